"""The bidder's and agency's side: seal a bid package offline, sign requests, stream a package.

``seal_package`` (``bidkernel bid seal``) writes a directory::

    manifest.json   {"format": "bidkernel/bid-package/v1", "tender_id", "envelopes": [{name, sm3, size, signature}]}
    <name>.env      one GM/T 0010 envelope per input file, sealed to the tender's opening certificates

with the 唱标 summary in its own small envelope named ``summary`` and, per envelope, the bidder's detached
SignedData (GM/T 0010 §9) over the SM3 of the envelope file, and the lot (标段) the bid is for.
``KernelClient.submit`` streams the package framing of :mod:`bidkernel.intake` with a signed request
whose ``Bk-Content-SM3`` is the SM3 of the package head (magic, length, manifest): the manifest binds
every envelope by its SM3, so no envelope is hashed again at submission.
Only the standard library speaks HTTP here (``http.client``): nothing is held in memory whole.
"""

from __future__ import annotations

import http.client
import os
import secrets
import struct
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bidkernel.authn import EMPTY_SM3, sign_headers
from bidkernel.crypto import sm2
from bidkernel.crypto.envelope import envelope_header, key_check_value, seal_file, sign_digest
from bidkernel.crypto.sm3 import Sm3Hash, sm3, sm3_file
from bidkernel.crypto.x509 import Certificate
from bidkernel.intake import MAGIC, PACKAGE_FORMAT, SUMMARY

_CHUNK = 256 << 10


def seal_package(
    out: str | os.PathLike[str],
    *,
    tender_id: str,
    opening_certificates: Sequence[Certificate],
    summary: str | os.PathLike[str],
    files: Sequence[tuple[str, str | os.PathLike[str]]],
    key: sm2.PrivateKey,
    cert: Certificate,
    lot: str | None = None,
    own_certificate: Certificate | None = None,
    backup_certificate: Certificate | None = None,
    key_check: bool = True,
) -> dict[str, Any]:
    """Seal ``summary`` and ``files`` ((name, path) pairs) into the package directory ``out``
    (for ``lot``; a single-lot tender needs none).

    Each envelope's signature also commits to its content key (the signed key check value,
    docs/protocol.md "Detached signatures"), so a key released at the opening is checked exactly;
    ``key_check=False`` writes the older form without it.

    ``own_certificate`` (bidder custody) is added as a recipient so the bidder can unwrap its own keys
    at the opening; ``backup_certificate`` (the tender's remedy certificate) makes ``<name>.backup``
    beside each envelope: the envelope header to that certificate under the same key and IV, kept by
    the bidder and uploaded only if its own decryption fails (``bidkernel bid backup``).
    """
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    entries = []
    recipients = [*opening_certificates, *([own_certificate] if own_certificate is not None else [])]
    for name, src in [(SUMMARY, summary), *files]:
        dst = outdir / f"{name}.env"
        content_key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
        size = seal_file(src, dst, recipients, content_key=content_key, iv=iv)
        if backup_certificate is not None:
            head = envelope_header([backup_certificate], content_key=content_key, iv=iv,
                                   plaintext_size=Path(src).stat().st_size)  # fmt: skip
            (outdir / f"{name}.backup").write_bytes(head)
        kcv = key_check_value(content_key) if key_check else None
        del content_key
        digest = sm3_file(dst)
        sig = sign_digest(digest, key, cert, key_check=kcv)
        import base64

        entries.append({"name": name, "sm3": digest.hex(), "size": size, "signature": base64.b64encode(sig).decode()})
    manifest: dict[str, Any] = {"format": PACKAGE_FORMAT, "tender_id": tender_id, "envelopes": entries}
    if lot is not None:
        manifest["lot"] = lot
    (outdir / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


@dataclass
class Package:
    """A sealed package on disk, ready to stream."""

    dir: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes

    @classmethod
    def load(cls, d: str | os.PathLike[str]) -> Package:
        p = Path(d)
        m = orjson.loads((p / "manifest.json").read_bytes())
        if not isinstance(m, dict) or m.get("format") != PACKAGE_FORMAT:
            raise ValueError(f"{p} is not a sealed bid package (manifest.json format {PACKAGE_FORMAT})")
        return cls(p, m, orjson.dumps(m))

    def prefix(self) -> bytes:
        return MAGIC + struct.pack(">I", len(self.manifest_bytes)) + self.manifest_bytes

    def files(self) -> list[Path]:
        return [self.dir / f"{e['name']}.env" for e in self.manifest["envelopes"] if not e.get("carry")]

    def length(self) -> int:
        return len(self.prefix()) + sum(f.stat().st_size for f in self.files())

    def body_sm3(self) -> str:
        """``Bk-Content-SM3`` of a package upload: SM3 of the head (docs/protocol.md "Bid packages")."""
        return Sm3Hash(self.prefix()).hexdigest()

    def chunks(self) -> Iterator[bytes]:
        yield self.prefix()
        for f in self.files():
            with open(f, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield chunk


class ApiError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('type', '')}: {problem.get('detail') or problem.get('title', '')}")
        self.status = status
        self.problem = problem

    @property
    def kind(self) -> str:
        return str(self.problem.get("type", "")).rsplit("/", 1)[-1]


class KernelClient:
    """A signed-request client for one identity (or anonymous when ``key`` is None)."""

    def __init__(
        self,
        base_url: str,
        key: sm2.PrivateKey | None = None,
        cert: Certificate | None = None,
        *,
        timeout: float = 120.0,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.key, self.cert, self.timeout = key, cert, timeout
        self.now_ms = now_ms

    def raw(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        *,
        length: int | None = None,
        body_sm3: str | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> tuple[int, dict[str, str], bytes]:
        h = dict(headers or {})
        if isinstance(body, bytes):
            length = len(body)
            body_sm3 = body_sm3 or sm3(body).hex()
        split = urllib.parse.urlsplit(path)
        if sign and self.key is not None and self.cert is not None:
            t_ms = self.now_ms() if self.now_ms is not None else None
            h.update(
                sign_headers(
                    self.key, self.cert, method, split.path, split.query, body_sm3=body_sm3 or EMPTY_SM3, t_ms=t_ms
                )
            )
        if length is not None:
            h["Content-Length"] = str(length)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=h, encode_chunked=False)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def call(self, method: str, path: str, obj: Any = None, *, sign: bool = True) -> Any:
        body = orjson.dumps(obj) if obj is not None else (b"" if method != "GET" else None)
        status, _h, data = self.raw(method, path, body, sign=sign)
        return _decode(status, data)

    def submit(self, tender_id: str, package: Package, *, lot: str | None = None) -> dict[str, Any]:
        query = "?" + urllib.parse.urlencode({"lot": lot}) if lot is not None else ""
        status, _h, data = self.raw(
            "POST",
            f"/tenders/{tender_id}/bids{query}",
            package.chunks(),
            length=package.length(),
            body_sm3=package.body_sm3(),
            headers={"Content-Type": "application/vnd.bidkernel.bid-package"},
        )
        out: dict[str, Any] = _decode(status, data)
        return out

    # --- the opening (docs/api.md "Opening") ----------------------------------------------------
    def open_tender(self, tender_id: str) -> dict[str, Any]:
        """Start the opening (agency); raises ApiError ``too-early`` before the opening time."""
        out: dict[str, Any] = self.call("POST", f"/tenders/{tender_id}/opening")
        return out

    def opening_status(self, tender_id: str) -> dict[str, Any]:
        """The opening's status document: state, 唱标 table, failures, record index."""
        out: dict[str, Any] = self.call("GET", f"/tenders/{tender_id}/opening")
        return out

    def release_share(self, tender_id: str, share: int) -> dict[str, Any]:
        """A custodian releases its (already decrypted and checked) share."""
        out: dict[str, Any] = self.call("POST", f"/tenders/{tender_id}/custody/releases", {"share": f"{share:064x}"})
        return out

    def release_bid_keys(
        self, bid_id: str, keys: dict[str, bytes], proofs: dict[str, bytes] | None = None
    ) -> dict[str, Any]:
        """Bidder custody: release the bid's content keys (envelope name -> 16-byte SM4 key), each with
        its proof (envelope name -> the 64-byte SM2 shared point of the wrapped key) when given."""
        import base64

        body: dict[str, Any] = {"keys": {n: base64.b64encode(k).decode() for n, k in keys.items()}}
        if proofs:
            body["proofs"] = {n: base64.b64encode(p).decode() for n, p in proofs.items()}
        out: dict[str, Any] = self.call("POST", f"/bids/{bid_id}/key", body)
        return out


def _decode(status: int, data: bytes) -> Any:
    try:
        obj = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        obj = {"title": data[:200].decode(errors="replace")}
    if status >= 400:
        raise ApiError(status, obj if isinstance(obj, dict) else {"title": str(obj)})
    return obj
