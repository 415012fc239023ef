"""Who can open a tender: the custody models fixed at publication (docs/protocol.md "Opening").

* ``platform``: the kernel generates the tender's opening key at publication, has the platform CA issue
  its encryption certificate, and keeps the private key only sealed by the :class:`KeyCustodyProvider`
  (SM4-GCM under the master key by default). A tender whose agency brought its own opening
  certificates under ``platform`` custody cannot be opened by the kernel (``custody-unavailable``).
* ``threshold``: the kernel, as dealer, generates the opening key, has its certificate issued, splits
  the private scalar with Feldman VSS (k of N), encrypts share i to custodian i's SM2 certificate
  (GB/T 32918.4, GM/T 0009 DER), records the commitments in the ``tender.published`` ledger event and
  forgets the key. It is rebuilt in memory only once trusted time has reached the opening time and k
  custodians have released shares that pass Feldman's check; a share that fails names its custodian.
* ``bidder``: each bidder unwraps its own content keys in the decryption window and submits them
  (signed request); with ``remedy: backup`` the kernel also holds a remedy key (platform custody) to
  open a backup envelope the bidder uploads in the window (Art. 31: 补救方案); with ``remedy: threshold``
  a threshold opening key is dealt as under ``threshold`` (its certificate joins the opening
  certificates, so every envelope is sealed to the bidder AND to it) and the custodians' k shares open,
  after the window, the envelopes whose bidders did not.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from bidkernel.crypto import sm2
from bidkernel.crypto.ca import ENCRYPTION
from bidkernel.crypto.x509 import Certificate
from bidkernel.custody import vss
from bidkernel.custody.provider import CustodyError, KeyCustodyProvider, MasterKeyProvider
from bidkernel.platform import Platform, issue_opening_certificate
from bidkernel.problems import KernelError
from bidkernel.store.base import Reader, Transaction

SHARE_MAGIC = b"BKSHARE1"
ENTRY = "custody"  # opening_entries kind: "setup" (public), "platform-key" / "remedy-key" (sealed)
SHARES = "share"  # opening_entries kind: released shares, key = custodian index, doc sealed


def provider(p: Platform) -> KeyCustodyProvider:
    """The platform's key custody provider (the master-key default unless a plugin's
    ``bidkernel_key_custody`` set one), guarded: a provider that raises becomes ``key-custody-unavailable``."""
    if p.key_custody is None:
        p.key_custody = MasterKeyProvider.from_config(p.data)
    if isinstance(p.key_custody, MasterKeyProvider):
        return p.key_custody
    return _Guarded(p.key_custody)


class _Guarded:
    """A plugin's custody provider on the kernel's paths: its exceptions become a stable problem (the
    detail names the exception type only), and it must answer bytes."""

    def __init__(self, inner: KeyCustodyProvider) -> None:
        self._inner = inner
        self.name = str(getattr(inner, "name", "?"))

    def _call(self, fn: Any, label: str, data: bytes) -> bytes:
        from bidkernel.providers import failed

        try:
            out = fn(label, data)
        except (CustodyError, KernelError):
            raise
        except Exception as exc:
            raise failed("key-custody-unavailable", f"key custody ({self.name})", exc) from None
        if not isinstance(out, bytes):
            raise KernelError("key-custody-unavailable", f"the key custody provider {self.name} answered no bytes")
        return out

    def seal(self, label: str, secret: bytes) -> bytes:
        return self._call(self._inner.seal, label, secret)

    def unseal(self, label: str, sealed: bytes) -> bytes:
        return self._call(self._inner.unseal, label, sealed)


@dataclass
class Setup:
    """What publication adds: public evidence for the ledger event and the tender document, and the
    sealed rows written in the publication's transaction."""

    public: dict[str, Any]
    rows: list[tuple[str, str, bytes]] = field(default_factory=list)

    def write(self, tx: Transaction, tender_id: str) -> None:
        tx.opening_entry_put(tender_id, ENTRY, "setup", orjson.dumps(self.public))
        for kind, key, doc in self.rows:
            tx.opening_entry_put(tender_id, kind, key, doc)


def _label(tender_id: str, what: str) -> str:
    return f"bidkernel/tender/{tender_id}/{what}"


def _sealed_key(p: Platform, tender_id: str, what: str, issued_key: sm2.PrivateKey) -> tuple[str, str, bytes]:
    der = issued_key.to_pkcs8(False)
    sealed = provider(p).seal(_label(tender_id, what), der)
    return (ENTRY, what, orjson.dumps({"provider": provider(p).name, "sealed": base64.b64encode(sealed).decode()}))


def setup_at_publication(p: Platform, doc: dict[str, Any]) -> Setup:
    """Generate the keys the tender's custody model needs; mutates ``doc`` (certificates, setup)."""
    tid = doc["id"]
    model = doc["custody"]
    ca = p.pki.ca
    public: dict[str, Any] = {"model": model}
    rows: list[tuple[str, str, bytes]] = []
    if model == "platform":
        if doc["opening_certificates"]:
            public["kernel_key"] = False  # the agency's own keys: the kernel cannot open (documented)
        else:
            iss = issue_opening_certificate(ca, f"CN=opening key {tid},O=bidkernel platform custody")
            doc["opening_certificates"].append(iss.certificate.to_pem().decode())
            rows.append(_sealed_key(p, tid, "platform-key", iss.key))
            public.update(kernel_key=True, certificate=iss.certificate.fingerprint.hex(), provider=provider(p).name)
    elif model == "threshold":
        public.update(_threshold_setup(p, doc))
    if model == "bidder" and doc.get("remedy") == "backup":
        iss = issue_opening_certificate(ca, f"CN=remedy key {tid},O=bidkernel platform custody")
        doc["remedy_certificate"] = iss.certificate.to_pem().decode()
        rows.append(_sealed_key(p, tid, "remedy-key", iss.key))
        public.update(remedy_certificate=iss.certificate.fingerprint.hex(), provider=provider(p).name)
    if model == "bidder" and doc.get("remedy") == "threshold":
        public.update(remedy="threshold", **_threshold_setup(p, doc))
    return Setup(public, rows)


def _threshold_setup(p: Platform, doc: dict[str, Any]) -> dict[str, Any]:
    """Deal the tender's threshold opening key (Feldman VSS, k of N): its certificate is appended to the
    opening certificates, share i is SM2-encrypted to custodian i; the key itself is forgotten."""
    tid = doc["id"]
    th = doc["threshold"]
    custodians = [Certificate.from_pem(c["certificate"].encode()) for c in th["custodians"]]
    d = 1 + secrets.randbelow(vss.N - 2)
    try:
        shares, commitments = vss.split(d, th["k"], len(custodians))
    finally:
        d = 0
    cert = p.pki.ca.issue(f"CN=opening key {tid},O=bidkernel threshold custody", public_key=commitments[0],
                          key_usage=ENCRYPTION).certificate  # fmt: skip
    doc["opening_certificates"].append(cert.to_pem().decode())
    enc = []
    for i, (c, s) in enumerate(zip(custodians, shares, strict=True), start=1):
        msg = SHARE_MAGIC + tid.encode() + b"\x00" + bytes([i]) + s.to_bytes(32, "big")
        enc.append({
            "index": i,
            "name": th["custodians"][i - 1]["name"],
            "certificate": c.fingerprint.hex(),
            "encrypted_share": base64.b64encode(sm2.encrypt(c.public_key, msg)).decode(),
        })  # fmt: skip
    shares.clear()
    return {"k": th["k"], "n": len(custodians), "commitments": [x.hex() for x in commitments],
            "certificate": cert.fingerprint.hex(), "custodians": enc}  # fmt: skip


def setup_of(r: Reader, tender_id: str) -> dict[str, Any]:
    raw = r.opening_entry_get(tender_id, ENTRY, "setup")
    if raw is None:
        raise KernelError("custody-unavailable", "the tender has no custody setup")
    out: dict[str, Any] = orjson.loads(raw)
    return out


def sealed_platform_key(p: Platform, tender_id: str, what: str = "platform-key") -> sm2.PrivateKey:
    """Unseal a platform-custody key. The caller has checked trusted time and state."""
    with p.store.reader() as r:
        raw = r.opening_entry_get(tender_id, ENTRY, what)
    if raw is None:
        raise KernelError("custody-unavailable", "the kernel holds no key for this tender")
    entry = orjson.loads(raw)
    try:
        der = provider(p).unseal(_label(tender_id, what), base64.b64decode(entry["sealed"]))
    except CustodyError as exc:
        raise KernelError("custody-unavailable", str(exc)) from None
    return sm2.load_private_key(der)


# ------------------------------------------------------------------------------ threshold releases
def decrypt_share(setup: dict[str, Any], tender_id: str, index: int, key: sm2.PrivateKey) -> int:
    """Custodian side: decrypt and check one's own share (Feldman) before releasing it."""
    entry = next((c for c in setup["custodians"] if c["index"] == index), None)
    if entry is None:
        raise KernelError("bad-share", f"no custodian {index}")
    msg = sm2.decrypt(key, base64.b64decode(entry["encrypted_share"]))
    prefix = SHARE_MAGIC + tender_id.encode() + b"\x00" + bytes([index])
    if len(msg) != len(prefix) + 32 or not secrets.compare_digest(msg[: len(prefix)], prefix):
        raise KernelError("bad-share", "the encrypted share is for another tender or custodian")
    share = int.from_bytes(msg[len(prefix) :], "big")
    if not vss.verify_share(index, share, [bytes.fromhex(c) for c in setup["commitments"]]):
        raise KernelError("bad-share", f"share {index} fails Feldman's check against the published commitments")
    return share


def custodian_index(setup: dict[str, Any], fp: str) -> int | None:
    for c in setup.get("custodians", []):
        if c["certificate"] == fp:
            return int(c["index"])
    return None


def check_share(setup: dict[str, Any], index: int, share: int) -> bool:
    return vss.verify_share(index, share, [bytes.fromhex(c) for c in setup["commitments"]])


def seal_share(p: Platform, tender_id: str, index: int, share: int) -> bytes:
    sealed = provider(p).seal(_label(tender_id, f"share/{index}"), share.to_bytes(32, "big"))
    return orjson.dumps({"index": index, "sealed": base64.b64encode(sealed).decode()})


def threshold_key(p: Platform, tender_id: str) -> sm2.PrivateKey | None:
    """The opening key rebuilt from k released shares (each re-checked), or None if fewer are in."""
    with p.store.reader() as r:
        setup = setup_of(r, tender_id)
        rows = r.opening_entries(tender_id, SHARES)
    k = int(setup["k"])
    commitments = [bytes.fromhex(c) for c in setup["commitments"]]
    shares: dict[int, int] = {}
    for _key, raw in rows:
        entry = orjson.loads(raw)
        i = int(entry["index"])
        s = int.from_bytes(provider(p).unseal(_label(tender_id, f"share/{i}"), base64.b64decode(entry["sealed"])))
        if vss.verify_share(i, s, commitments):
            shares[i] = s
        if len(shares) == k:
            break
    if len(shares) < k:
        return None
    d = vss.combine(shares)
    shares.clear()
    try:
        if not 1 <= d <= vss.N - 2 or not secrets.compare_digest(vss.base_mul(d), commitments[0]):
            raise KernelError("custody-unavailable", "the released shares do not rebuild the opening key")
        return sm2.PrivateKey.from_scalar_bytes(d.to_bytes(32, "big"))
    finally:
        d = 0
