"""Trusted time: the kernel's clock, an RFC 3161 time-stamping authority, a client for external TSAs and
a token verifier.

The calls other components make (receipts, the closing checkpoint, opening records)::

    token = stamper.stamp(data_or_digest)             # TimeStampAuthority or TSAClient
    info = verify_token(token, data_or_digest, trust) # -> TSTInfoSummary, or VerificationError
    if not clock.is_before(deadline): refuse()        # TrustedClock; raises UntrustedTimeError
"""

from __future__ import annotations

from typing import Protocol

from bidkernel.timestamp.clock import ClockStatus, ReferenceSample, TimeReading, TimeReference, TrustedClock
from bidkernel.timestamp.errors import (
    ConfigError,
    MalformedError,
    TimestampError,
    TSAUnavailable,
    UntrustedTimeError,
    VerificationError,
)
from bidkernel.timestamp.tsa import Digest, TimeStampAuthority, make_request, new_nonce
from bidkernel.timestamp.verify import (
    ReplySummary,
    Trust,
    TSTInfoSummary,
    parse_reply,
    parse_request,
    verify_against_request,
    verify_reply,
    verify_token,
)


class Stamper(Protocol):
    """What receipts, the closing checkpoint and opening records call: the kernel's own
    :class:`TimeStampAuthority` or a :class:`bidkernel.timestamp.client.TSAClient` (later a plugin)."""

    def stamp(self, data_or_digest: bytes | Digest) -> bytes:
        """A DER TimeStampToken over ``data`` (hashed by the stamper) or a caller's :class:`Digest`."""
        ...


__all__ = [
    "ClockStatus",
    "ConfigError",
    "Digest",
    "MalformedError",
    "ReferenceSample",
    "ReplySummary",
    "Stamper",
    "TSAUnavailable",
    "TSTInfoSummary",
    "TimeReading",
    "TimeReference",
    "TimeStampAuthority",
    "TimestampError",
    "Trust",
    "TrustedClock",
    "UntrustedTimeError",
    "VerificationError",
    "make_request",
    "new_nonce",
    "parse_reply",
    "parse_request",
    "verify_against_request",
    "verify_reply",
    "verify_token",
]
