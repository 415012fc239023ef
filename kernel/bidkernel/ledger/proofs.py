"""Proof objects and their JSON file formats (docs/protocol.md, "Ledger" / "Proof files").

Plain dataclasses with ``to_json`` / ``from_json``: the kernel API serves ``to_json()`` as is, the
CLI reads the same documents from files. Hashes and leaf bytes are standard base64 (RFC 4648 §4),
like the root in a checkpoint.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bidkernel.ledger import merkle
from bidkernel.ledger.checkpoint import NoteVerifier, SignedCheckpoint, open_checkpoint
from bidkernel.ledger.errors import LedgerError, NoteError, ProofError

INCLUSION_FORMAT = "bidkernel/inclusion-proof/v1"
CONSISTENCY_FORMAT = "bidkernel/consistency-proof/v1"


class ProofFormatError(LedgerError, ValueError):
    """A proof document is malformed (missing field, wrong type, bad base64...)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(doc: Mapping[str, Any], key: str) -> bytes:
    v = doc.get(key)
    if not isinstance(v, str):
        raise ProofFormatError("bad_field", f"{key!r} must be a base64 string")
    try:
        return base64.b64decode(v, validate=True)
    except (ValueError, binascii.Error):
        raise ProofFormatError("bad_field", f"{key!r} is not valid base64") from None


def _int(doc: Mapping[str, Any], key: str) -> int:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ProofFormatError("bad_field", f"{key!r} must be a non-negative integer")
    return v


def _str(doc: Mapping[str, Any], key: str) -> str:
    v = doc.get(key)
    if not isinstance(v, str) or not v:
        raise ProofFormatError("bad_field", f"{key!r} must be a non-empty string")
    return v


def _hashes(doc: Mapping[str, Any], key: str) -> list[bytes]:
    v = doc.get(key)
    if not isinstance(v, list):
        raise ProofFormatError("bad_field", f"{key!r} must be a list of base64 strings")
    return [_unb64({key: x}, key) for x in v]


def _check_format(doc: Any, fmt: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ProofFormatError("bad_document", "a proof document is a JSON object")
    if doc.get("format") != fmt:
        raise ProofFormatError("bad_format", f"'format' must be {fmt!r}, not {doc.get('format')!r}")
    return doc


@dataclass(frozen=True)
class InclusionProof:
    """``PATH(leaf_index, D[tree_size])`` (RFC 9162 §2.1.3) with what a verifier needs beside it."""

    hash: str
    origin: str
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes
    leaf: bytes | None = None
    checkpoint: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": INCLUSION_FORMAT,
            "hash": self.hash,
            "origin": self.origin,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": b64(self.leaf_hash),
            "proof": [b64(p) for p in self.proof],
            "root": b64(self.root),
        }
        if self.leaf is not None:
            d["leaf"] = b64(self.leaf)
        if self.checkpoint is not None:
            d["checkpoint"] = self.checkpoint
        return d

    @classmethod
    def from_json(cls, doc: Any) -> InclusionProof:
        d = _check_format(doc, INCLUSION_FORMAT)
        cp = d.get("checkpoint")
        if cp is not None and not isinstance(cp, str):
            raise ProofFormatError("bad_field", "'checkpoint' must be a signed-note string")
        return cls(
            hash=_str(d, "hash"),
            origin=_str(d, "origin"),
            leaf_index=_int(d, "leaf_index"),
            tree_size=_int(d, "tree_size"),
            leaf_hash=_unb64(d, "leaf_hash"),
            proof=tuple(_hashes(d, "proof")),
            root=_unb64(d, "root"),
            leaf=_unb64(d, "leaf") if "leaf" in d else None,
            checkpoint=cp,
        )

    def verify(self, verifiers: Sequence[NoteVerifier] = ()) -> SignedCheckpoint | None:
        """Verify (RFC 9162 §2.1.3.2); if a checkpoint is attached, also its signature and that it
        names this tree. Raises :class:`ProofError` / :class:`NoteError`; returns the checkpoint.
        """
        hasher = _hasher(self.hash)
        if self.leaf is not None and hasher.hash_leaf(self.leaf) != self.leaf_hash:
            raise ProofError("leaf_mismatch", "the leaf bytes do not hash to leaf_hash")
        merkle.verify_inclusion(hasher, self.leaf_index, self.tree_size, self.leaf_hash, self.proof, self.root)
        return _check_cp(self.checkpoint, verifiers, self.origin, self.tree_size, self.root, hasher)


@dataclass(frozen=True)
class ConsistencyProof:
    """``PROOF(size1, D[size2])`` (RFC 9162 §2.1.4) with both roots and optional checkpoints."""

    hash: str
    origin: str
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: tuple[bytes, ...]
    checkpoint1: str | None = None
    checkpoint2: str | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": CONSISTENCY_FORMAT,
            "hash": self.hash,
            "origin": self.origin,
            "size1": self.size1,
            "size2": self.size2,
            "root1": b64(self.root1),
            "root2": b64(self.root2),
            "proof": [b64(p) for p in self.proof],
        }
        if self.checkpoint1 is not None:
            d["checkpoint1"] = self.checkpoint1
        if self.checkpoint2 is not None:
            d["checkpoint2"] = self.checkpoint2
        return d

    @classmethod
    def from_json(cls, doc: Any) -> ConsistencyProof:
        d = _check_format(doc, CONSISTENCY_FORMAT)
        cps: list[str | None] = []
        for k in ("checkpoint1", "checkpoint2"):
            v = d.get(k)
            if v is not None and not isinstance(v, str):
                raise ProofFormatError("bad_field", f"{k!r} must be a signed-note string")
            cps.append(v)
        return cls(
            hash=_str(d, "hash"),
            origin=_str(d, "origin"),
            size1=_int(d, "size1"),
            size2=_int(d, "size2"),
            root1=_unb64(d, "root1"),
            root2=_unb64(d, "root2"),
            proof=tuple(_hashes(d, "proof")),
            checkpoint1=cps[0],
            checkpoint2=cps[1],
        )

    def verify(self, verifiers: Sequence[NoteVerifier] = ()) -> tuple[SignedCheckpoint | None, SignedCheckpoint | None]:
        """Verify (RFC 9162 §2.1.4.2) and any attached checkpoints; raises on failure."""
        hasher = _hasher(self.hash)
        merkle.verify_consistency(hasher, self.size1, self.size2, self.root1, self.root2, self.proof)
        c1 = _check_cp(self.checkpoint1, verifiers, self.origin, self.size1, self.root1, hasher)
        c2 = _check_cp(self.checkpoint2, verifiers, self.origin, self.size2, self.root2, hasher)
        return c1, c2


def _hasher(name: str) -> merkle.TreeHasher:
    try:
        return merkle.hasher_by_name(name)
    except ValueError as exc:
        raise ProofFormatError("bad_hash", str(exc)) from None


def _check_cp(
    note: str | None,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    size: int,
    root: bytes,
    hasher: merkle.TreeHasher,
) -> SignedCheckpoint | None:
    if note is None:
        return None
    if not verifiers:
        raise NoteError("no_verifier", "a checkpoint is attached but no trusted key was given to check it")
    scp = open_checkpoint(note, verifiers, origin=origin, digest_size=hasher.digest_size)
    if scp.size != size or scp.root != root:
        raise ProofError(
            "checkpoint_mismatch",
            f"the checkpoint states size {scp.size} root {scp.root.hex()}, "
            f"the proof is for size {size} root {root.hex()}",
        )
    return scp
