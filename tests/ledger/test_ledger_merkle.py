"""RFC 9162 §2.1 with SM3 against a naive reference tree written here from the RFC's definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidkernel.crypto.sm3 import sm3
from bidkernel.ledger import merkle
from bidkernel.ledger.errors import ProofError

H = merkle.SM3


# ---- naive reference: the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 ----------


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return sm3(b"")
    if n == 1:
        return sm3(b"\x00" + d[0])
    k = ref_k(n)
    return sm3(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() * (i % 3 + 1) for i in range(n)]


def reader(d: list[bytes]) -> merkle.NodeReader:
    _, _, created = merkle.append_leaf_hashes(H, 0, [], [H.hash_leaf(x) for x in d])
    nodes = {(lvl, idx): h for lvl, idx, h in created}
    return lambda ids: {i: nodes[i] for i in ids if i in nodes}


def test_hasher_is_rfc9162_over_sm3() -> None:
    assert H.hash_leaf(b"abc") == sm3(b"\x00abc")
    assert H.hash_children(b"L" * 32, b"R" * 32) == sm3(b"\x01" + b"L" * 32 + b"R" * 32)
    assert H.empty_root() == sm3(b"")
    assert merkle.SHA256.hash_leaf(b"") == hashlib.sha256(b"\x00").digest()


def test_sm3_agrees_with_naive_reference_for_sizes_1_to_300() -> None:
    d = leaves(300)
    read = reader(d)
    # Roots of every prefix, from the frontier as the log keeps it and from stored nodes.
    size, front = 0, []
    for n in range(1, 301):
        size, front, _ = merkle.append_leaf_hashes(H, size, front, [H.hash_leaf(d[n - 1])])
        want = ref_mth(d[:n])
        assert merkle.root_from_frontier(H, front) == want, n
        assert merkle.root_from_nodes(H, n, read) == want, n
    # Proofs: every index for a spread of sizes, all sizes for a few indices.
    sizes = [*range(1, 40), 63, 64, 65, 127, 128, 129, 255, 256, 257, 299, 300]
    for n in sizes:
        root = ref_mth(d[:n])
        for m in range(n):
            p = merkle.inclusion_proof(H, m, n, read)
            assert p == ref_path(m, d[:n]), (m, n)
            merkle.verify_inclusion(H, m, n, H.hash_leaf(d[m]), p, root)
        for m in range(1, n + 1):
            c = merkle.consistency_proof(H, m, n, read)
            assert c == ref_subproof(m, d[:n], True), (m, n)
            merkle.verify_consistency(H, m, n, ref_mth(d[:m]), root, c)


def test_reference_roots_for_all_sizes_1_to_300() -> None:
    d = leaves(300)
    # the O(n) streaming root against the recursive definition, every size
    for n in range(1, 301, 7):
        assert merkle.root_of_leaf_hashes(H, [H.hash_leaf(x) for x in d[:n]]) == ref_mth(d[:n])


def test_range_nodes_rejects_unaligned_ranges() -> None:
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError):
        merkle.range_nodes(3, 7)
    with pytest.raises(ValueError):
        merkle.range_nodes(5, 5)


# ---- properties ---------------------------------------------------------------------------------

MAX_N = 600
D = leaves(MAX_N)
READ = reader(D)
ROOTS: dict[int, bytes] = {}


def root(n: int) -> bytes:
    if n not in ROOTS:
        ROOTS[n] = merkle.root_from_nodes(H, n, READ)
    return ROOTS[n]


def flip(b: bytes, pos: int, bit: int) -> bytes:
    x = bytearray(b)
    x[pos % len(x)] ^= 1 << bit
    return bytes(x)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, MAX_N).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))), st.data())
def test_inclusion_proofs_verify_and_any_mutation_fails(nm: tuple[int, int], data: st.DataObject) -> None:
    n, m = nm
    proof = merkle.inclusion_proof(H, m, n, READ)
    lh = H.hash_leaf(D[m])
    merkle.verify_inclusion(H, m, n, lh, proof, root(n))
    # Mutate one byte of one of: the leaf hash, a proof element, the root.
    parts = ["leaf", "root"] + (["proof"] * 3 if proof else [])
    which = data.draw(st.sampled_from(parts))
    pos, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
    bad_leaf, bad_proof, bad_root = lh, list(proof), root(n)
    if which == "leaf":
        bad_leaf = flip(lh, pos, bit)
    elif which == "root":
        bad_root = flip(bad_root, pos, bit)
    else:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad_proof[i] = flip(bad_proof[i], pos, bit)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(H, m, n, bad_leaf, bad_proof, bad_root)
    # The proof is for (m, n) only: a different index or size fails too (unless the path is shared).
    other = data.draw(st.integers(0, n - 1))
    if other != m:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(H, other, n, lh, proof, root(n))


@settings(max_examples=300, deadline=None)
@given(st.integers(2, MAX_N).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))), st.data())
def test_consistency_proofs_verify_and_any_mutation_fails(mn: tuple[int, int], data: st.DataObject) -> None:
    m, n = mn
    proof = merkle.consistency_proof(H, m, n, READ)
    merkle.verify_consistency(H, m, n, root(m), root(n), proof)
    which = data.draw(st.sampled_from(["root1", "root2", "proof", "proof", "proof"]))
    pos, bit = data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7))
    r1, r2, p = root(m), root(n), list(proof)
    if which == "root1":
        r1 = flip(r1, pos, bit)
    elif which == "root2":
        r2 = flip(r2, pos, bit)
    else:
        i = data.draw(st.integers(0, len(p) - 1))
        p[i] = flip(p[i], pos, bit)
    with pytest.raises(ProofError):
        merkle.verify_consistency(H, m, n, r1, r2, p)
    # Dropping or appending a hash fails as well.
    with pytest.raises(ProofError):
        merkle.verify_consistency(H, m, n, root(m), root(n), proof[:-1])
    with pytest.raises(ProofError):
        merkle.verify_consistency(H, m, n, root(m), root(n), [*proof, proof[0]])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, MAX_N))
def test_truncated_hashes_are_malformed(n: int) -> None:
    with pytest.raises(ProofError) as e:
        merkle.verify_inclusion(H, 0, n, H.hash_leaf(D[0])[:31], merkle.inclusion_proof(H, 0, n, READ), root(n))
    assert e.value.code == "malformed"
