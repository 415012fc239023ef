"""Merkle tree math of RFC 9162 §2.1, with the hash function as a parameter.

Pure functions, no I/O. The log (:mod:`bidkernel.ledger.log`) uses SM3; the public
transparency-dev vectors run the very same code with SHA-256.

Vocabulary used throughout:

* ``MTH(D[a:b])`` — the Merkle Tree Hash of leaves ``a`` (inclusive) to ``b`` (exclusive),
  RFC 9162 §2.1.1.
* a *perfect node* ``(level, index)`` — the root of the complete subtree covering leaves
  ``[index * 2**level, (index + 1) * 2**level)``. Level 0 nodes are the leaf hashes. Perfect nodes
  never change once the tree has grown past them, so a store can keep them and answer every
  proof with O(log n) reads (see :func:`range_nodes`).

Proof *generation* is split in two pure steps so a storage backend can fetch everything a proof
needs in one query: ``*_proof_ranges`` say which subtree hashes the proof consists of, and
:func:`range_nodes` says which stored perfect nodes make up each of them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bidkernel.ledger.errors import ProofError

HashFunction = Callable[[bytes], bytes]
NodeId = tuple[int, int]
"""``(level, index)`` of a perfect node."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


@dataclass(frozen=True)
class TreeHasher:
    """The hashing of RFC 9162 §2.1.1 over one hash function.

    ``name`` identifies the function in files and checkpoints (``"sm3"``, ``"sha256"``).
    """

    name: str
    hash: HashFunction
    digest_size: int

    def empty_root(self) -> bytes:
        """``MTH({}) = HASH()`` (RFC 9162 §2.1.1)."""
        return self.hash(b"")

    def hash_leaf(self, leaf: bytes) -> bytes:
        """``MTH({d(0)}) = HASH(0x00 || d(0))`` (RFC 9162 §2.1.1)."""
        return self.hash(LEAF_PREFIX + leaf)

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """``HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` (RFC 9162 §2.1.1)."""
        return self.hash(NODE_PREFIX + left + right)

    def __repr__(self) -> str:
        return f"TreeHasher({self.name!r})"


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


SHA256 = TreeHasher("sha256", _sha256, 32)
"""The hasher of RFC 6962 / the transparency-dev vectors."""


def _make_sm3() -> TreeHasher:
    from bidkernel.crypto.sm3 import sm3

    return TreeHasher("sm3", sm3, 32)


SM3 = _make_sm3()
"""The hasher of the bidkernel log: RFC 9162 §2.1 with SM3 (GB/T 32905) as HASH."""

HASHERS: Mapping[str, TreeHasher] = {"sm3": SM3, "sha256": SHA256}


def hasher_by_name(name: str) -> TreeHasher:
    """The hasher called ``name`` (``sm3`` or ``sha256``); :class:`ValueError` otherwise."""
    try:
        return HASHERS[name]
    except KeyError:
        raise ValueError(f"unknown hash {name!r}: expected one of {', '.join(sorted(HASHERS))}") from None


# --------------------------------------------------------------------------------------------
# Tree shape helpers
# --------------------------------------------------------------------------------------------


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``k`` in RFC 9162 §2.1.1), for ``n > 1``."""
    if n < 2:
        raise ValueError("split point needs n > 1")
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """Perfect nodes whose hashes determine ``MTH(D[start:end])``, largest first.

    Valid for the ranges that the recursive split of RFC 9162 §2.1.1 produces: each starts at a
    multiple of ``2**ceil(log2(end - start))``, so it is the concatenation of the complete
    subtrees given by the binary expansion of ``end - start`` (largest first), and
    :func:`combine_range` folds their hashes back into ``MTH``. Other ranges raise
    :class:`ValueError`.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    nodes: list[NodeId] = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        size = 1 << level
        if pos % size:
            raise ValueError(f"range [{start}, {end}) is not a subtree of an RFC 9162 tree")
        nodes.append((level, pos >> level))
        pos += size
        remaining -= size
    return nodes


def combine_range(hasher: TreeHasher, hashes: Sequence[bytes]) -> bytes:
    """Fold perfect-node hashes (as listed by :func:`range_nodes`) into ``MTH`` (RFC 9162 §2.1.1).

    The right-most subtrees are the deepest in the recursion, so the fold runs right to left.
    """
    if not hashes:
        raise ValueError("no nodes to combine")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hasher.hash_children(h, acc)
    return acc


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose ``MTH`` form ``PATH(index, D[size])``, bottom-up (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose ``MTH`` form ``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4.1).

    ``0 < size1 <= size2``; equal sizes give the empty proof.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    # SUBPROOF(m, D[lo:hi], b), unrolled; the components are emitted top-down and reversed.
    ranges: list[tuple[int, int]] = []
    m, lo, hi, complete = size1, 0, size2, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    ranges.reverse()
    return ranges


NodeReader = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Fetches stored perfect-node hashes; must return every requested id."""


def subtree_hashes(hasher: TreeHasher, ranges: Sequence[tuple[int, int]], read: NodeReader) -> list[bytes]:
    """``MTH(D[a:b])`` for each range, with ONE call to ``read`` for all the perfect nodes needed."""
    plans = [range_nodes(a, b) for a, b in ranges]
    wanted = sorted({nid for plan in plans for nid in plan})
    got = read(wanted) if wanted else {}
    out: list[bytes] = []
    for plan in plans:
        try:
            out.append(combine_range(hasher, [got[nid] for nid in plan]))
        except KeyError as exc:
            raise LookupError(f"node {exc.args[0]} missing from the store") from None
    return out


def root_from_nodes(hasher: TreeHasher, size: int, read: NodeReader) -> bytes:
    """``MTH(D[0:size])`` from stored perfect nodes: at most log2(size)+1 reads."""
    if size == 0:
        return hasher.empty_root()
    return subtree_hashes(hasher, [(0, size)], read)[0]


def inclusion_proof(hasher: TreeHasher, index: int, size: int, read: NodeReader) -> list[bytes]:
    """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1) from stored perfect nodes, O(log n) reads."""
    return subtree_hashes(hasher, inclusion_proof_ranges(index, size), read)


def consistency_proof(hasher: TreeHasher, size1: int, size2: int, read: NodeReader) -> list[bytes]:
    """``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4.1) from stored perfect nodes, O(log n) reads."""
    return subtree_hashes(hasher, consistency_proof_ranges(size1, size2), read)


# --------------------------------------------------------------------------------------------
# Appending: the compact range of perfect nodes along the right edge
# --------------------------------------------------------------------------------------------


def frontier_ids(size: int) -> list[NodeId]:
    """Perfect nodes covering ``D[0:size]`` (largest first): the only state an append needs."""
    return range_nodes(0, size) if size else []


def append_leaf_hashes(
    hasher: TreeHasher, size: int, frontier: list[bytes], leaf_hashes: Iterable[bytes]
) -> tuple[int, list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf hashes to a tree of ``size`` leaves whose :func:`frontier_ids` hash to ``frontier``.

    Returns the new size, the new frontier and every perfect node created, as
    ``(level, index, hash)`` — including the level-0 leaf nodes. ``frontier`` is not modified.
    """
    front = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    for lh in leaf_hashes:
        node = lh
        idx = size
        level = 0
        created.append((0, idx, node))
        # While this node is a right child, merge it with its left sibling on the frontier.
        while idx & 1:
            node = hasher.hash_children(front.pop(), node)
            idx >>= 1
            level += 1
            created.append((level, idx, node))
        front.append(node)
        size += 1
    return size, front, created


def root_from_frontier(hasher: TreeHasher, frontier: Sequence[bytes]) -> bytes:
    """``MTH`` of the whole tree from its frontier (RFC 9162 §2.1.1)."""
    if not frontier:
        return hasher.empty_root()
    return combine_range(hasher, frontier)


def root_of_leaf_hashes(hasher: TreeHasher, leaf_hashes: Iterable[bytes]) -> bytes:
    """``MTH`` of a whole list of leaf hashes in O(n) time and O(log n) memory."""
    _, front, _ = append_leaf_hashes(hasher, 0, [], leaf_hashes)
    return root_from_frontier(hasher, front)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


def _check_hash(hasher: TreeHasher, what: str, value: bytes) -> None:
    if len(value) != hasher.digest_size:
        raise ProofError(
            "malformed",
            f"{what} is {len(value)} bytes; {hasher.name} hashes are {hasher.digest_size} bytes",
        )


def root_from_inclusion_proof(
    hasher: TreeHasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1-5 without the compare)."""
    if size < 1:
        raise ProofError("bad_size", f"tree size {size}: an empty tree includes no leaf")
    if not 0 <= index < size:
        raise ProofError("bad_index", f"leaf index {index} is outside a tree of size {size}")
    _check_hash(hasher, "leaf hash", leaf_hash)
    for i, p in enumerate(proof):
        _check_hash(hasher, f"proof[{i}]", p)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("bad_length", f"proof has {len(proof)} hashes: too many for this tree")
        if fn & 1 or fn == sn:
            r = hasher.hash_children(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hasher.hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("bad_length", f"proof has {len(proof)} hashes: too few for this tree")
    return r


def verify_inclusion(
    hasher: TreeHasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof (RFC 9162 §2.1.3.2); raise :class:`ProofError` unless it holds."""
    _check_hash(hasher, "root", root)
    got = root_from_inclusion_proof(hasher, index, size, leaf_hash, proof)
    if not hmac.compare_digest(got, root):
        raise ProofError(
            "root_mismatch",
            f"the proof leads to root {got.hex()}, not to the expected root {root.hex()}",
        )


def verify_consistency(
    hasher: TreeHasher, size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Verify a consistency proof (RFC 9162 §2.1.4.2); raise :class:`ProofError` unless it holds.

    Conventions beyond the RFC text (those of the transparency-dev vectors): ``size1 = 0`` is
    refused (there is nothing to be consistent with; any tree extends the empty one), and
    ``size1 = size2`` holds only with an empty proof and byte-identical roots (whatever their
    length: the claim "same tree" needs no hashing). Otherwise every hash must be a digest.
    """
    if size1 < 1:
        raise ProofError("bad_size", f"size1 = {size1}: consistency is only proven from a non-empty tree")
    if size2 < size1:
        raise ProofError("bad_size", f"size2 = {size2} is smaller than size1 = {size1}")
    if size1 == size2:
        if proof:
            raise ProofError("bad_length", "equal sizes need an empty proof")
        if not hmac.compare_digest(root1, root2):
            raise ProofError("root_mismatch", f"equal sizes but different roots {root1.hex()} / {root2.hex()}")
        return
    _check_hash(hasher, "root1", root1)
    _check_hash(hasher, "root2", root2)
    for i, c in enumerate(proof):
        _check_hash(hasher, f"proof[{i}]", c)
    # Step 1: a proof between different sizes is never empty.
    if not proof:
        raise ProofError("bad_length", "the proof is empty")
    path = list(proof)
    # Step 2: if size1 is a power of two, first_hash is the first subtree.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("bad_length", f"proof has {len(proof)} hashes: too many")
        if fn & 1 or fn == sn:
            fr = hasher.hash_children(c, fr)
            sr = hasher.hash_children(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hasher.hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("bad_length", f"proof has {len(proof)} hashes: too few")
    if not hmac.compare_digest(fr, root1):
        raise ProofError("root_mismatch", f"the proof leads to old root {fr.hex()}, not {root1.hex()}")
    if not hmac.compare_digest(sr, root2):
        raise ProofError("root_mismatch", f"the proof leads to new root {sr.hex()}, not {root2.hex()}")


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0
