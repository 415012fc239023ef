"""RFC 6962/9162 public vectors (transparency-dev testdata, SHA-256), read from the shared folder."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bidkernel.ledger import merkle
from bidkernel.ledger.errors import ProofError

RFC6962_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]


def _files(vectors_dir: Path, kind: str) -> list[Path]:
    files = sorted((vectors_dir / "merkle_rfc6962" / kind).rglob("*.json"))
    assert files, f"no {kind} vectors found"
    return files


def _b64(v: str | None) -> bytes:
    return base64.b64decode(v) if v else b""


@pytest.fixture(scope="module")
def inclusion_files(vectors_dir: Path) -> list[Path]:
    return _files(vectors_dir, "inclusion")


@pytest.fixture(scope="module")
def consistency_files(vectors_dir: Path) -> list[Path]:
    return _files(vectors_dir, "consistency")


def _run_inclusion(doc: dict) -> None:
    merkle.verify_inclusion(
        merkle.SHA256,
        doc["leafIdx"],
        doc["treeSize"],
        _b64(doc["leafHash"]),
        [_b64(p) for p in doc["proof"] or []],
        _b64(doc["root"]),
    )


def _run_consistency(doc: dict) -> None:
    merkle.verify_consistency(
        merkle.SHA256,
        doc["size1"],
        doc["size2"],
        _b64(doc["root1"]),
        _b64(doc["root2"]),
        [_b64(p) for p in doc["proof"] or []],
    )


def test_inclusion_vectors(inclusion_files: list[Path]) -> None:
    valid = invalid = 0
    failures = []
    for f in inclusion_files:
        doc = json.loads(f.read_text())
        try:
            _run_inclusion(doc)
            ok = True
        except ProofError:
            ok = False
        if ok == doc["wantErr"]:
            failures.append(f"{f.parent.name}/{f.name}: wantErr={doc['wantErr']}")
        valid += ok
        invalid += not ok
    assert not failures, failures
    # The README promises 98 files: 6 valid, 92 that must fail.
    assert (valid, invalid) == (6, 92)


def test_consistency_vectors(consistency_files: list[Path]) -> None:
    valid = invalid = 0
    failures = []
    for f in consistency_files:
        doc = json.loads(f.read_text())
        try:
            _run_consistency(doc)
            ok = True
        except ProofError:
            ok = False
        if ok == doc["wantErr"]:
            failures.append(f"{f.parent.name}/{f.name}: wantErr={doc['wantErr']}")
        valid += ok
        invalid += not ok
    assert not failures, failures
    assert (valid, invalid) == (6, 92)


def _memory_reader(hasher: merkle.TreeHasher, leaves: list[bytes]) -> merkle.NodeReader:
    _, _, created = merkle.append_leaf_hashes(hasher, 0, [], [hasher.hash_leaf(x) for x in leaves])
    nodes = {(lvl, idx): h for lvl, idx, h in created}
    return lambda ids: {i: nodes[i] for i in ids if i in nodes}


def test_happy_paths_are_regenerated(inclusion_files: list[Path], consistency_files: list[Path]) -> None:
    """Our generator reproduces the proofs and roots of every valid vector from the RFC 6962 leaves."""
    leaves = [bytes.fromhex(x) for x in RFC6962_LEAVES]
    read = _memory_reader(merkle.SHA256, leaves)
    checked = 0
    for f in inclusion_files:
        doc = json.loads(f.read_text())
        if doc["wantErr"] or not f.parent.name.isdigit():
            continue
        proof = merkle.inclusion_proof(merkle.SHA256, doc["leafIdx"], doc["treeSize"], read)
        assert proof == [_b64(p) for p in doc["proof"] or []], f
        assert merkle.root_from_nodes(merkle.SHA256, doc["treeSize"], read) == _b64(doc["root"]), f
        checked += 1
    for f in consistency_files:
        doc = json.loads(f.read_text())
        if doc["wantErr"] or not f.parent.name.isdigit():
            continue
        proof = merkle.consistency_proof(merkle.SHA256, doc["size1"], doc["size2"], read)
        assert proof == [_b64(p) for p in doc["proof"] or []], f
        checked += 1
    assert checked >= 10
