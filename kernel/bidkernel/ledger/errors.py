"""Errors of the transparency ledger. Each carries a stable ``code`` for APIs and the CLI."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class. ``code`` is stable (safe to match on); the message is for people."""

    code: str = "ledger_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ProofError(LedgerError):
    """An inclusion or consistency proof does not verify (or is malformed)."""


class LeafEncodingError(LedgerError, ValueError):
    """An event cannot be encoded, or bytes are not a canonical v1 leaf (see docs/protocol.md)."""


class NoteError(LedgerError, ValueError):
    """A checkpoint / signed note is malformed or its signature does not verify."""


class CheckpointError(LedgerError):
    """The log refuses to sign a checkpoint (it would contradict an earlier one, or time went back)."""


class LedgerStateError(LedgerError):
    """The stored log is inconsistent (recomputed hashes differ from stored ones); the log refuses to open."""


class LedgerClosedError(LedgerError):
    """The log is closed or its committer failed; no more appends are accepted."""
