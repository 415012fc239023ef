"""Client for external RFC 3161 TSAs over HTTP (RFC 3161 §3.4), with timeouts, retries and fallback.

Fallback policy (issue 6):

* TSAs are tried in the configured order; each gets ``retries`` extra attempts with exponential backoff
  on transport failures (connection refused, timeout, HTTP 5xx) and on ``timeNotAvailable`` /
  ``systemFailure`` rejections. A reply that does not verify (signature, chain, nonce, imprint) is never
  retried against the same TSA: the next TSA is asked.
* Every request carries a fresh 64-bit nonce, so a replayed or cached reply cannot pass; the token must
  stamp exactly the caller's digest.
* **Never back-dated**: a token whose ``genTime + accuracy`` lies before ``not_before`` (the instant the
  caller's event is known to have happened, e.g. the trusted receipt time) is refused.
* **Never a silent drop to an untrusted clock**: there is no local fallback here. When every TSA fails
  within ``total_timeout`` the call raises :class:`TSAUnavailable` listing each attempt; a deployment
  that wants the kernel's own TSA as last resort lists it explicitly (it refuses in turn when its own
  clock is untrusted).

The interface (``stamp(data_or_digest) -> token``) is the one a plugin can provide later.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bidkernel.timestamp import asn1
from bidkernel.timestamp.clock import ReferenceSample
from bidkernel.timestamp.errors import MalformedError, TSAUnavailable, VerificationError
from bidkernel.timestamp.tsa import Digest, make_request, new_nonce
from bidkernel.timestamp.verify import Trust, TSTInfoSummary, parse_reply, verify_token

log = logging.getLogger("bidkernel.timestamp.client")

MAX_REPLY_BYTES = 64 * 1024
_RETRYABLE_FAILS = {"timeNotAvailable", "systemFailure"}


@dataclass(frozen=True)
class TSAEndpoint:
    """One external TSA: its URL, what its tokens are verified against, the policy to ask for (optional)
    and the imprint hash to use."""

    url: str
    trust: Trust
    policy: str | None = None
    hash_algorithm: str = "sha256"
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass(frozen=True)
class IssuedToken:
    token: bytes
    info: TSTInfoSummary
    endpoint: str
    attempts: int


class _Retry(Exception):
    pass


class _NextTSA(Exception):
    pass


class TSAClient:
    def __init__(
        self,
        endpoints: Sequence[TSAEndpoint],
        *,
        timeout: float = 5.0,
        total_timeout: float = 15.0,
        retries: int = 2,
        backoff: float = 0.2,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one TSA endpoint is needed")
        if timeout <= 0 or total_timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeouts must be positive, retries and backoff non-negative")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self.total_timeout = total_timeout
        self.retries = retries
        self.backoff = backoff
        self._mono = monotonic
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<TSAClient {[e.label for e in self.endpoints]}>"

    def _post(self, url: str, body: bytes, timeout: float) -> bytes:
        req = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
            url, data=body, method="POST", headers={"Content-Type": "application/timestamp-query"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                data: bytes = resp.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise _Retry(f"HTTP {exc.code}") from None
            raise _NextTSA(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retry(f"transport: {type(reason).__name__}") from None
        if len(data) > MAX_REPLY_BYTES:
            raise _NextTSA("reply too large")
        if ctype != "application/timestamp-reply":
            raise _NextTSA(f"unexpected content type {ctype!r}")
        return data

    def request(
        self, data_or_digest: bytes | Digest, *, cert_req: bool = True, not_before: datetime | None = None
    ) -> IssuedToken:
        """A verified token from the first TSA that gives one, or :class:`TSAUnavailable`. Data is hashed
        with each endpoint's algorithm; a :class:`Digest` goes only to endpoints using its algorithm."""
        start = self._mono()
        errors: list[str] = []
        for ep in self.endpoints:
            if isinstance(data_or_digest, Digest):
                digest = data_or_digest
                if asn1.hash_by_name(digest.algorithm).name != ep.hash_algorithm:
                    errors.append(f"{ep.label}: needs a {ep.hash_algorithm} imprint")
                    continue
            else:
                h = asn1.hash_by_name(ep.hash_algorithm)
                digest = Digest(h.name, h.fn(bytes(data_or_digest)))
            attempt = 0
            while True:
                remaining = self.total_timeout - (self._mono() - start)
                if remaining <= 0:
                    errors.append(f"{ep.label}: total timeout")
                    raise TSAUnavailable("no TSA answered in time: " + "; ".join(errors))
                attempt += 1
                nonce = new_nonce()
                body = make_request(digest, nonce=nonce, cert_req=cert_req, policy=ep.policy)
                try:
                    reply = self._post(ep.url, body, min(self.timeout, remaining))
                    token, info = self._check(reply, digest, ep, nonce, not_before)
                    return IssuedToken(token, info, ep.label, attempt)
                except _Retry as exc:
                    errors.append(f"{ep.label} attempt {attempt}: {exc}")
                    if attempt > self.retries:
                        break
                    pause = min(self.backoff * 2 ** (attempt - 1), max(0.0, remaining - 0.01))
                    self._sleep(pause)
                except _NextTSA as exc:
                    errors.append(f"{ep.label} attempt {attempt}: {exc}")
                    break
            log.warning("TSA %s failed, trying the next one", ep.label)
        raise TSAUnavailable("no TSA gave a valid token: " + "; ".join(errors))

    def _check(
        self, reply: bytes, digest: Digest, ep: TSAEndpoint, nonce: int, not_before: datetime | None
    ) -> tuple[bytes, TSTInfoSummary]:
        try:
            rep = parse_reply(reply)
        except MalformedError:
            raise _NextTSA("reply is not a DER TimeStampResp") from None
        if rep.status not in (0, 1) or rep.token is None:
            fails = set(rep.fail_info)
            text = f"rejected ({', '.join(sorted(fails)) or 'no failInfo'})"
            if fails & _RETRYABLE_FAILS:
                raise _Retry(text)
            raise _NextTSA(text)
        try:
            info = verify_token(rep.token, digest, ep.trust, nonce=nonce, policy=ep.policy)
        except VerificationError as exc:
            raise _NextTSA(f"token rejected: {exc.code}") from None
        if not_before is not None:
            latest = info.gen_time.timestamp() + (info.accuracy or 0.0)
            if latest < not_before.timestamp():
                raise _NextTSA("token would back-date the event (genTime before not_before)")
        return rep.token, info

    def stamp(self, data_or_digest: bytes | Digest, *, not_before: datetime | None = None) -> bytes:
        """The DER TimeStampToken for ``data_or_digest`` (see :meth:`request`)."""
        return self.request(data_or_digest, not_before=not_before).token


class TSAReference:
    """A :class:`bidkernel.timestamp.clock.TimeReference` backed by external TSAs: the genTime of a fresh,
    verified token for a random imprint. A token without ``accuracy`` counts as ``assumed_accuracy``."""

    def __init__(self, client: TSAClient, *, assumed_accuracy: float = 1.0) -> None:
        self.client = client
        self.assumed_accuracy = assumed_accuracy
        self.name = ",".join(e.label for e in client.endpoints)

    def sample(self) -> ReferenceSample:
        issued = self.client.request(os.urandom(32), cert_req=True)
        acc = issued.info.accuracy if issued.info.accuracy is not None else self.assumed_accuracy
        return ReferenceSample(issued.info.gen_time.timestamp(), acc)
