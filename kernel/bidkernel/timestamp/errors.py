"""Errors of the trusted-time layer. Each carries a stable ``code`` that callers (API problem types,
CLI messages, logs) can rely on; messages never contain key material or raw input."""

from __future__ import annotations


class TimestampError(Exception):
    """Base class. ``code`` is stable across releases; the message is for people."""

    code = "timestamp.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.args[0]} [{self.code}]"


class MalformedError(TimestampError):
    """Bytes that are not the DER structure they claim to be."""

    code = "timestamp.malformed"


class VerificationError(TimestampError):
    """A token or reply that does not verify. ``code`` says which check failed
    (``timestamp.verify.<check>``)."""

    code = "timestamp.verify.failed"


class ConfigError(TimestampError):
    """A TSA or clock configuration that cannot be used (missing key, certificate unfit for time-stamping...)."""

    code = "timestamp.config"


class TSAUnavailable(TimestampError):
    """No configured TSA gave a valid token within the timeouts and retries."""

    code = "timestamp.tsa_unavailable"


class UntrustedTimeError(TimestampError):
    """The kernel cannot vouch for the current time; intake and opening must refuse.

    ``skew`` is the last measured offset (seconds, system clock minus trusted time) when known.
    """

    code = "clock.untrusted"

    def __init__(self, message: str, *, code: str | None = None, skew: float | None = None) -> None:
        super().__init__(message, code=code)
        self.skew = skew
