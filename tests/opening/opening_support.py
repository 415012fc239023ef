"""An opening hall for the tests: a real kernel on loopback (tests/intake/intake_support.py) with an
agency, bidders, custodians and a supervisor from the embedded CA, and a clock the test moves."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intake_support import Kernel, start_kernel

from bidkernel.client import KernelClient, Package, seal_package
from bidkernel.crypto.ca import ENCRYPTION, SIGNING, Issued
from bidkernel.crypto.envelope import read_header_from_file, unwrap_content_key
from bidkernel.crypto.x509 import Certificate
from bidkernel.custody import tender_keys
from bidkernel.opening import OpeningService
from bidkernel.tenders import TenderService


@dataclass
class Hall:
    k: Kernel
    tmp: Path
    custodians: list[Issued] = field(default_factory=list)

    @classmethod
    def start(cls, tmp: Path) -> Hall:
        return cls(start_kernel(tmp), tmp)

    def stop(self) -> None:
        self.k.stop()

    # identities --------------------------------------------------------------------------------
    def agency(self) -> KernelClient:
        self.k.identity("agency-a", "agency")
        return self.k.client("agency-a")

    def bidder(self, name: str) -> KernelClient:
        self.k.identity(name, "bidder")
        return self.k.client(name)

    def supervisor(self) -> KernelClient:
        self.k.identity("super", "supervisor")
        return self.k.client("super")

    def custodian(self, i: int) -> Issued:
        while len(self.custodians) <= i:
            n = len(self.custodians)
            role = ("operator", "supervisor", "agency")[n % 3]
            usage = (*SIGNING, *ENCRYPTION)  # custodians sign requests and receive encrypted shares
            self.custodians.append(self.k.identity(f"custodian-{n}", role, f"Custodian {n}", key_usage=usage))
        return self.custodians[i]

    def custodian_client(self, i: int) -> KernelClient:
        return self.k.client(f"custodian-{i}")

    # tenders -------------------------------------------------------------------------------------
    def tender(self, custody: str = "platform", *, seconds: float = 600, **rules: Any) -> dict[str, Any]:
        c = self.agency()
        dl = self.k.now() + dt.timedelta(seconds=seconds)
        req: dict[str, Any] = {"title": "Bridge repair", "deadline": dl.isoformat(), "custody": custody, **rules}
        if custody == "bidder":
            req.setdefault("opening_certificates", [self.k.opening_cert().certificate.to_pem().decode()])
        t = c.call("POST", "/tenders", req)
        return dict(c.call("POST", f"/tenders/{t['id']}/publish"))

    def threshold_tender(self, k: int, n: int, **rules: Any) -> dict[str, Any]:
        cs = [{"name": f"Custodian {i}", "certificate": self.custodian(i).certificate.to_pem().decode()}
              for i in range(n)]  # fmt: skip
        return self.tender("threshold", threshold={"k": k, "custodians": cs}, **rules)

    def seal(self, bidder: str, t: dict[str, Any], *, price: int, size: int = 4096, files: int = 1,
             own: bool = False, kcv: bool = True) -> Package:  # fmt: skip
        i = self.k.identity(bidder, "bidder")
        d = self.tmp / f"pkg-{bidder}-{t['id']}-{os.urandom(3).hex()}"
        d.mkdir()
        (d / "summary.json").write_text(f'{{"bidder": "{bidder}", "price": {price}}}')
        fs = []
        for n in range(files):
            (d / f"f{n}.bin").write_bytes(os.urandom(size))
            fs.append((f"doc{n}", d / f"f{n}.bin"))
        certs = [Certificate.from_pem(p.encode()) for p in t["opening_certificates"]]
        backup = Certificate.from_pem(t["remedy_certificate"].encode()) if t.get("remedy_certificate") else None
        seal_package(d / "pkg", tender_id=t["id"], opening_certificates=certs, summary=d / "summary.json",
                     files=fs, key=i.key, cert=i.certificate, own_certificate=i.certificate if own else None,
                     backup_certificate=backup, key_check=kcv)  # fmt: skip
        return Package.load(d / "pkg")

    def submit(self, bidder: str, t: dict[str, Any], **kw: Any) -> tuple[str, Package]:
        pkg = self.seal(bidder, t, **kw)
        r = self.bidder(bidder).submit(t["id"], pkg)
        return str(r["body"]["bid_id"]), pkg

    def key_files(self, name: str, issued: Issued | None = None) -> tuple[str, str]:
        """``issued``'s (default: identity ``name``'s) PKCS#8 key and PEM certificate as files, for the CLI."""
        i = issued or self.k.ids[name]
        key, cert = self.tmp / f"{name}.key", self.tmp / f"{name}.pem"
        key.write_bytes(i.key.to_pkcs8(True))
        cert.write_bytes(i.certificate.to_pem())
        return str(key), str(cert)

    def share(self, tid: str, i: int) -> int:
        """Custodian ``i``'s share of tender ``tid``'s threshold key, decrypted with its own SM2 key."""
        with self.k.platform.store.reader() as r:
            setup = tender_keys.setup_of(r, tid)
        return tender_keys.decrypt_share(setup, tid, i + 1, self.custodian(i).key)

    def content_keys(self, bidder: str, pkg: Package) -> dict[str, bytes]:
        """The content key of each envelope of ``pkg``, unwrapped with ``bidder``'s own SM2 key (bidder custody)."""
        i = self.k.ids[bidder]
        return {e["name"]: unwrap_content_key(read_header_from_file(pkg.dir / f"{e['name']}.env"), i.key, i.certificate)
                for e in pkg.manifest["envelopes"]}  # fmt: skip

    # time ----------------------------------------------------------------------------------------
    def advance_to(self, ms: int, extra_s: float = 1.0) -> None:
        """Move trusted time to ``ms`` (+ extra) by shifting both the system and the monotonic clock."""
        now_ms = self.k.platform.now_ms()
        if ms > now_ms:
            self.k.time.offset += (ms - now_ms) / 1000 + extra_s

    def after_deadline(self, t: dict[str, Any]) -> None:
        self.advance_to(t["deadline_ms"])
        deadline = time.monotonic() + 10
        while TenderService(self.k.platform).closing(t["id"]) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the tender was not sealed")
            time.sleep(0.02)

    def service(self) -> OpeningService:
        return OpeningService(self.k.platform)

    def wait_final(self, tid: str, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.agency().opening_status(tid)
            if st["state"] in ("opened", "failed"):
                return st
            time.sleep(0.05)
        raise AssertionError(f"the opening did not finish: {st}")

    def plaintext_bytes(self) -> int:
        d = self.k.platform.data / "plaintext"
        return sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) if d.exists() else 0
