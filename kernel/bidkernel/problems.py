"""Every refusal the kernel gives, with a stable problem type (RFC 9457 §3.1.1) and an HTTP status.

Recipes raise :class:`KernelError` with a ``kind`` from :data:`PROBLEMS`; the HTTP edge turns it into
``application/problem+json`` with ``type = https://bidkernel.dev/problems/<kind>``; the CLI prints the
title and detail and exits non-zero. Details never carry secrets or other parties' data.
docs/protocol.md "Problem types" lists the same table (a test checks they agree).
"""

from __future__ import annotations

PROBLEM_BASE = "https://bidkernel.dev/problems/"

# kind -> (HTTP status, title)
PROBLEMS: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request is malformed"),
    "malformed-package": (400, "The bid package is malformed"),
    "truncated-upload": (400, "The upload ended before the declared length"),
    "body-digest-mismatch": (400, "The body does not match its declared SM3 digest"),
    "unauthenticated": (401, "A signed request is required"),
    "auth-malformed": (401, "The request's authentication headers are malformed"),
    "unknown-certificate": (401, "The certificate is not known"),
    "certificate-untrusted": (401, "The certificate does not chain to a trusted root"),
    "certificate-expired": (401, "The certificate is not valid at trusted time"),
    "certificate-revoked": (401, "The certificate is revoked"),
    "request-expired": (401, "The request time is outside the allowed window"),
    "replayed-request": (401, "The request nonce was already used"),
    "bad-request-signature": (401, "The request signature does not verify"),
    "forbidden": (403, "Not allowed for this role"),
    "role-revoked": (403, "The operator revoked this certificate's role"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "deadline-passed": (409, "The bid deadline has passed (by the platform's trusted time)"),
    "tender-not-open": (409, "The tender is not open for bids"),
    "tender-state": (409, "The tender's state does not allow this"),
    "bid-not-live": (409, "The bid is not live"),
    "concurrent-submission": (409, "Another submission of this bidder is being committed; retry"),
    "amendment-too-late": (409, "An amendment affecting bid preparation needs 15 days before the deadline"),
    "too-early": (409, "The opening time has not been reached (by the platform's trusted time)"),
    "opening-state": (409, "The opening's state does not allow this"),
    "custody-unavailable": (409, "The tender's custody cannot provide the opening key"),
    "window-closed": (409, "The decryption window is closed"),
    "payload-too-large": (413, "The upload exceeds the size limit"),
    "tsa-content-type": (415, "Unsupported media type"),
    "unencrypted-envelope": (422, "An envelope is not a GM/T 0010 digital envelope: is this file encrypted?"),
    "wrong-recipients": (422, "An envelope is not sealed to the tender's opening certificates"),
    "wrong-tender": (422, "The package is for another tender"),
    "bad-signature": (422, "A bidder signature does not verify"),
    "digest-mismatch": (422, "An envelope does not match its declared SM3 digest"),
    "too-many-envelopes": (422, "Too many envelopes in one bid"),
    "bad-share": (422, "A custodian's key share fails verification"),
    "bad-key-release": (422, "A released content key does not open the envelope"),
    "missing-summary": (422, "The bid lacks its 唱标 summary envelope"),
    "wrong-lot": (422, "The bid names no lot, or a lot this tender does not have"),
    "overloaded": (429, "Too many requests in flight; retry later"),
    "rate-limited": (429, "Too many requests from this certificate; retry later"),
    "internal": (500, "Internal error"),
    "untrusted-time": (503, "The platform's trusted time is unavailable; nothing is accepted"),
    "unavailable": (503, "A required component is not installed or configured"),
    "timestamp-unavailable": (503, "The timestamp provider failed; retry later"),
    "blob-store-unavailable": (503, "The blob store provider failed; the bid was not accepted, retry later"),
    "key-custody-unavailable": (503, "The key custody provider failed; retry later"),
}


class KernelError(Exception):
    """A refusal with a stable ``kind`` (a key of :data:`PROBLEMS`) and a human ``detail``."""

    def __init__(self, kind: str, detail: str = "", **extra: object) -> None:
        if kind not in PROBLEMS:
            raise ValueError(f"unknown problem kind {kind!r}")
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.extra = extra

    @property
    def status(self) -> int:
        return PROBLEMS[self.kind][0]

    @property
    def title(self) -> str:
        return PROBLEMS[self.kind][1]

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.kind
