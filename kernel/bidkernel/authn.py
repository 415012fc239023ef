"""Request authentication by SM2 certificate, and roles (docs/protocol.md "## Request authentication").

Every non-public request carries::

    Bk-Cert: base64(DER certificate)      or   Bk-Cert-Fp: hex SM3 fingerprint (once the platform has seen it)
    Bk-Time: Unix time in milliseconds (the caller's clock; checked against the platform's trusted clock)
    Bk-Nonce: 32-64 lowercase hex digits, fresh per request
    Bk-Content-SM3: hex SM3 of the exact body bytes (of the empty string when there is no body)
    Bk-Signature: base64 SM2 signature (GB/T 32918.2, ID 1234567812345678, DER) over the canonical string

    canonical = "BK1-SM2-SM3\\n" METHOD "\\n" path "\\n" raw-query "\\n" Bk-Time "\\n" Bk-Nonce "\\n"
                Bk-Content-SM3 "\\n" certificate-fingerprint-hex            (UTF-8, no trailing newline)

The certificate must chain to a configured root at trusted time with digitalSignature usage and not be
revoked. Its role and organisation come from the operator's role registry (:mod:`bidkernel.roles`:
a grant overrides, a revocation denies) and, by default, from the subject's OU (bidder, agency,
supervisor, custodian, operator) and O.
Replays: a nonce seen within the time window is refused. An in-memory cache answers; every accepted
nonce is also in the store (table ``request_nonces``): a state-changing request records it in the
same transaction as its effect, a read records it through a grouped write that survives a process
restart (no fsync of its own), and the cache is re-armed from the store at start-up, so a request
captured before a restart is still refused after it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509 as cx509
from cryptography.x509.oid import NameOID

from bidkernel.crypto import sm2
from bidkernel.crypto.sm3 import sm3
from bidkernel.crypto.x509 import CertErrorCode, Certificate, CertificateError, KeyUsage, verify_chain
from bidkernel.problems import KernelError
from bidkernel.store.group import GroupWriter

ROLES = ("bidder", "agency", "supervisor", "custodian", "operator")
_READS = ("GET", "HEAD")
PREFIX = "BK1-SM2-SM3"
EMPTY_SM3 = sm3(b"").hex()
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``fp`` is the hex SM3 fingerprint of its certificate."""

    role: str
    org: str
    fp: str
    subject: str
    nonce: str

    def __repr__(self) -> str:
        return f"Principal({self.role}, {self.org!r}, {self.fp[:16]})"


def canonical_request(method: str, path: str, query: str, t_ms: str, nonce: str, body_sm3: str, fp: str) -> bytes:
    return "\n".join([PREFIX, method.upper(), path, query, t_ms, nonce, body_sm3, fp]).encode("utf-8")


def sign_headers(
    key: sm2.PrivateKey,
    cert: Certificate,
    method: str,
    path: str,
    query: str = "",
    *,
    body_sm3: str = EMPTY_SM3,
    t_ms: int | None = None,
    nonce: str | None = None,
    send_cert: bool = True,
) -> dict[str, str]:
    """The authentication headers for one request (what ``bidkernel bid submit`` and tests send)."""
    import secrets

    t = str(t_ms if t_ms is not None else time.time_ns() // 1_000_000)
    n = nonce or secrets.token_hex(16)
    fp = cert.fingerprint.hex()
    sig = sm2.sign(key, canonical_request(method, path, query, t, n, body_sm3, fp), id=sm2.DEFAULT_ID)
    h = {
        "Bk-Time": t,
        "Bk-Nonce": n,
        "Bk-Content-SM3": body_sm3,
        "Bk-Signature": base64.b64encode(sig).decode(),
    }
    if send_cert:
        h["Bk-Cert"] = base64.b64encode(cert.der).decode()
    else:
        h["Bk-Cert-Fp"] = fp
    return h


def role_of(cert: Certificate) -> tuple[str, str]:
    """(role, organisation) from the subject's OU and O."""
    found = certificate_role(cert)
    if found is None:
        raise KernelError("forbidden", "the certificate names no single role (OU) and organisation (O)")
    return found


def certificate_role(cert: Certificate) -> tuple[str, str] | None:
    """(role, organisation) from the subject's OU and O, or ``None`` if they name no single role."""
    name = cx509.load_der_x509_certificate(cert.der).subject
    ous = [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    orgs = [str(a.value) for a in name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    roles = [r for r in ous if r in ROLES]
    if len(roles) != 1 or not orgs:
        return None
    return roles[0], orgs[0]


class NonceCache:
    """Nonces seen within the window (bounded; the oldest expire first)."""

    def __init__(self, window_s: float, max_entries: int = 1_000_000) -> None:
        self.window_ms = int(window_s * 1000)
        self.max = max_entries
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_add(self, nonce: str, now_ms: int, *, seen_ms: int | None = None) -> bool:
        """True if fresh (and now remembered), False if a replay. ``seen_ms``: when it was first
        seen, if earlier than now (re-arming the cache from the store after a restart)."""
        with self._lock:
            while self._seen:
                _k, exp = next(iter(self._seen.items()))
                if exp > now_ms and len(self._seen) < self.max:
                    break
                self._seen.popitem(last=False)
            if nonce in self._seen:
                return False
            self._seen[nonce] = (seen_ms if seen_ms is not None else now_ms) + 2 * self.window_ms
            return True


class Authenticator:
    """Checks request headers against roots, the revocation list and the nonce cache (trusted time)."""

    def __init__(self, platform: object) -> None:
        from bidkernel.platform import Platform

        assert isinstance(platform, Platform)
        self.p = platform
        self.nonces = NonceCache(platform.limits.clock_skew_s)
        self._chain_ok: dict[str, tuple[Certificate, str | None, str | None]] = {}
        self._lock = threading.Lock()
        self._journal: GroupWriter[tuple[str, int]] = GroupWriter(self._journal_write)
        self._journal_rows = 0
        self._rearm()

    def _rearm(self) -> None:
        """Nonces accepted within the replay horizon before a restart are refused after it."""
        try:
            now = self.p.now_ms()
        except Exception:  # untrusted time at start: fall back to the system clock for the horizon only
            now = time.time_ns() // 1_000_000
        since = now - 2 * self.nonces.window_ms
        with self.p.store.reader() as r:
            rows = r.nonces_since(since)
        for nonce, t in sorted(rows, key=lambda x: x[1]):
            self.nonces.check_and_add(nonce, now, seen_ms=t)

    def _journal_write(self, items: Sequence[tuple[str, int]]) -> None:
        fresh = self.p.store.nonces_record_fast(items)
        if not all(fresh):  # pragma: no cover - the cache refuses these first; the store is the backstop
            raise KernelError("replayed-request", "this nonce was already used")
        self._journal_rows += len(items)
        if self._journal_rows >= 10_000:  # forget nonces that no request window can reach any more
            self._journal_rows = 0
            horizon = items[-1][1] - 4 * self.nonces.window_ms
            with self.p.store.transaction() as tx:
                tx.nonces_prune(horizon)

    def _certificate(self, h: Mapping[str, str]) -> Certificate:
        if "bk-cert" in h:
            try:
                return Certificate.from_der(base64.b64decode(h["bk-cert"], validate=True))
            except Exception:
                raise KernelError("auth-malformed", "Bk-Cert is not a base64 DER certificate") from None
        fp = h.get("bk-cert-fp", "")
        if len(fp) != 64 or not _HEX.match(fp):
            raise KernelError("auth-malformed", "send Bk-Cert or a 64-hex-digit Bk-Cert-Fp")
        with self.p.store.reader() as r:
            known = r.certificate_get(fp)
        if known is None:
            raise KernelError("unknown-certificate", "this fingerprint is not registered; send Bk-Cert once")
        return Certificate.from_der(known)

    def authenticate(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> Principal | None:
        """The caller, or ``None`` for an unauthenticated (public) request. Raises :class:`KernelError`."""
        h = {k.lower(): v for k, v in headers.items() if k.lower().startswith("bk-")}
        if not h:
            return None
        missing = [k for k in ("bk-time", "bk-nonce", "bk-content-sm3", "bk-signature") if k not in h]
        if missing:
            raise KernelError("auth-malformed", f"missing {', '.join(missing)}")
        t, nonce, body_sm3 = h["bk-time"], h["bk-nonce"], h["bk-content-sm3"]
        if not t.isdigit() or len(t) > 16:
            raise KernelError("auth-malformed", "Bk-Time must be Unix milliseconds")
        if not 32 <= len(nonce) <= 64 or not _HEX.match(nonce):
            raise KernelError("auth-malformed", "Bk-Nonce must be 32-64 lowercase hex digits")
        if len(body_sm3) != 64 or not _HEX.match(body_sm3):
            raise KernelError("auth-malformed", "Bk-Content-SM3 must be 64 lowercase hex digits")
        try:
            sig = base64.b64decode(h["bk-signature"], validate=True)
        except ValueError:
            raise KernelError("auth-malformed", "Bk-Signature is not base64") from None
        cert = self._certificate(h)
        fp = cert.fingerprint.hex()
        now_ms = self.p.now_ms()
        if abs(int(t) - now_ms) > self.p.limits.clock_skew_s * 1000:
            raise KernelError(
                "request-expired",
                f"Bk-Time is {abs(int(t) - now_ms) / 1000:.1f} s from trusted time (window "
                f"{self.p.limits.clock_skew_s:g} s)",
            )
        msg = canonical_request(method, path, query, t, nonce, body_sm3, fp)
        if not sm2.verify(cert.public_key, msg, sig, id=sm2.DEFAULT_ID, fmt="der"):
            raise KernelError("bad-request-signature", "the SM2 signature over the canonical request does not verify")
        if self.p.is_revoked(fp):
            raise KernelError("certificate-revoked", f"certificate {fp[:16]}… is on the revocation list")
        role, org = self._role(fp, *self._check_chain(cert, fp, now_ms))
        if not self.nonces.check_and_add(nonce, now_ms):
            raise KernelError("replayed-request", "this nonce was already used")
        if method.upper() in _READS:  # state changes record their nonce with their effect
            self._journal.submit((nonce, now_ms))
        return Principal(role, org, fp, cert.subject, nonce)

    def _role(self, fp: str, cert_role: str | None, cert_org: str | None) -> tuple[str, str]:
        """The registry decides; the certificate's OU/O are the default (docs/protocol.md "Roles")."""
        with self.p.store.reader() as r:
            entry = r.role_get(fp)
        if entry is not None:
            if entry.status == "revoked":
                raise KernelError("role-revoked", "the platform operator revoked this certificate's role")
            return entry.role, entry.org
        if cert_role is None or cert_org is None:
            raise KernelError("forbidden", "the certificate names no single role (OU) and organisation (O)")
        return cert_role, cert_org

    def _check_chain(self, cert: Certificate, fp: str, now_ms: int) -> tuple[str | None, str | None]:
        at = _dt.datetime.fromtimestamp(now_ms / 1000, _dt.UTC)
        cached = self._chain_ok.get(fp)
        if cached is not None:
            try:
                cert.check_validity(at)  # validity re-checked at every request's trusted time
            except CertificateError as exc:
                raise KernelError("certificate-expired", str(exc)) from None
            return cached[1], cached[2]
        try:
            verify_chain(cert, roots=self.p.pki.client_roots, at=at, key_usage=[KeyUsage.DIGITAL_SIGNATURE])
        except CertificateError as exc:
            if exc.code in (CertErrorCode.EXPIRED, CertErrorCode.NOT_YET_VALID):
                raise KernelError("certificate-expired", str(exc)) from None
            raise KernelError("certificate-untrusted", str(exc)) from None
        role, org = certificate_role(cert) or (None, None)
        with self._lock:
            self._chain_ok[fp] = (cert, role, org)
        with self.p.store.reader() as r:
            known = r.certificate_get(fp) is not None
        if not known:
            with self.p.store.transaction() as tx:
                tx.certificate_put(fp, cert.der)
        return role, org
