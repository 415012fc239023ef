"""Provider plugins on the kernel's own paths (docs/plugin_hooks.md "Providers"), each a real alternative
installed as a plugin and driven through a whole tender over HTTP with ``bidkernel.testing``:

* an HSM-like key custody keeps the opening keys in its own encrypted store: it seals at publication and
  unseals only at the opening — the kernel's time gate decides when, not the provider;
* a second, independent RFC 3161 TSA (its own CA and certificate) stamps receipts, the closing checkpoint
  and the opening record: each token verifies against THAT certificate, not the kernel's;
* a blob store in another directory holds the envelopes; the opening reads them back from it;
* a notifier plugin receives the notices other plugins send.

A provider that raises gives a stable problem+json answer and leaves no partial state."""

from __future__ import annotations

import base64
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509 as cx509

from bidkernel.client import ApiError
from bidkernel.crypto import sm2, sm4
from bidkernel.crypto.ca import Issued, TestCA
from bidkernel.crypto.x509 import KeyUsage
from bidkernel.hookspecs import hookimpl
from bidkernel.ledger.events import canonical_json
from bidkernel.platform import Pki
from bidkernel.plugins import KernelConfig, OutboxEvent, PluginKernel
from bidkernel.plugins.host import PluginError
from bidkernel.receipt import signed_message, verify_receipt
from bidkernel.testing import RunningKernel, ShiftableTime, start_kernel
from bidkernel.timestamp.asn1 import ID_KP_TIMESTAMPING
from bidkernel.timestamp.client import TSAClient, TSAEndpoint
from bidkernel.timestamp.clock import TrustedClock
from bidkernel.timestamp.errors import TimestampError
from bidkernel.timestamp.serials import SqliteSerialCounter
from bidkernel.timestamp.signers import Sm2Signer
from bidkernel.timestamp.tsa import TimeStampAuthority
from bidkernel.timestamp.verify import Trust, verify_token


class Provides:
    """A plugin answering provider hooks with the objects it was given (``None``: the kernel's default)."""

    def __init__(self, **providers: Any) -> None:
        self.p = providers

    @hookimpl
    def bidkernel_key_custody(self, config: KernelConfig) -> Any:
        return self.p.get("custody")

    @hookimpl
    def bidkernel_timestamp_source(self, config: KernelConfig) -> Any:
        return self.p.get("timestamps")

    @hookimpl
    def bidkernel_blob_store(self, config: KernelConfig) -> Any:
        return self.p.get("blobs")

    @hookimpl
    def bidkernel_notifier(self, config: KernelConfig) -> Any:
        return self.p.get("notifier")


def _cx(issued: Issued) -> cx509.Certificate:
    return cx509.load_der_x509_certificate(issued.certificate.der)


def _problem(e: pytest.ExceptionInfo[ApiError], status: int, kind: str) -> dict[str, Any]:
    assert e.value.status == status, e.value.problem
    assert e.value.problem["type"] == f"https://bidkernel.dev/problems/{kind}", e.value.problem
    return e.value.problem


def _ledger_count(k: RunningKernel, kind: str, tender_id: str) -> int:
    from bidkernel.ledger.events import decode_leaf

    evs = [decode_leaf(leaf) for _i, leaf in k.platform.log.iter_leaves()]
    return sum(1 for e in evs if e.kind == kind and e.data.get("tender_id") == tender_id)


def _wait(cond: Any, what: str, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------------------- key custody
class HsmLike:
    """An HSM stand-in: the device key never leaves it. ``seal`` encrypts the secret (SM4-GCM under the
    device key, bound to the label) into the device's own store and answers an opaque handle; ``unseal``
    looks the handle up. Counts calls; ``fail_*`` make it raise like a device that is down."""

    name = "hsm-like/test"

    def __init__(self, root: Path, signer: Issued) -> None:
        self.root = root
        root.mkdir(mode=0o700)
        self._key = os.urandom(sm4.KEY_SIZE)
        self._signer = signer
        self.calls: Counter[str] = Counter()
        self.fail_seal = False
        self.fail_unseal = False
        self.unsealed: set[str] = set()

    def seal(self, label: str, secret: bytes) -> bytes:
        self.calls["seal"] += 1
        if self.fail_seal:
            raise RuntimeError("HSM slot 3 unreachable (pin=123456)")
        handle = os.urandom(16).hex()
        iv = os.urandom(sm4.GCM_IV_SIZE)
        ct, tag = sm4.gcm_encrypt(self._key, iv, secret, aad=label.encode())
        (self.root / handle).write_bytes(iv + ct + tag)
        return b"HSM1:" + handle.encode()

    def unseal(self, label: str, sealed: bytes) -> bytes:
        self.calls["unseal"] += 1
        self.unsealed.add(label)
        if self.fail_unseal:
            raise RuntimeError("HSM slot 3 unreachable (pin=123456)")
        raw = (self.root / sealed[len(b"HSM1:") :].decode()).read_bytes()
        iv, ct, tag = raw[: sm4.GCM_IV_SIZE], raw[sm4.GCM_IV_SIZE : -sm4.GCM_TAG_SIZE], raw[-sm4.GCM_TAG_SIZE :]
        return sm4.gcm_decrypt(self._key, iv, ct, tag, aad=label.encode())

    def sign(self, message: bytes) -> bytes:
        self.calls["sign"] += 1
        return sm2.sign(self._signer.key, message, id=sm2.DEFAULT_ID, fmt="der")

    def certificate_pem(self) -> bytes:
        return self._signer.certificate.to_pem()


@pytest.fixture
def hsm_kernel(tmp_path: Path) -> Iterator[tuple[RunningKernel, HsmLike]]:
    # the platform key imported into the device before the kernel starts (a custody provider signs as
    # the platform: the kernel refuses one holding another key)
    platform_key = Pki.load_or_create(tmp_path / "data" / "pki").platform
    hsm = HsmLike(tmp_path / "hsm", platform_key)
    k = start_kernel(tmp_path, plugins=[("hsm", Provides(custody=hsm))])
    try:
        yield k, hsm
    finally:
        k.stop()


def test_hsm_custody_seals_at_publication_and_unseals_only_at_the_opening(
    hsm_kernel: tuple[RunningKernel, HsmLike],
) -> None:
    k, hsm = hsm_kernel
    opening = (k.now().timestamp() + 1200) * 1000
    t = k.tender(quorum=2, opening=_iso(opening))
    # the tender's opening key, sealed by the HSM at publication (and the checkpoint signed by it)
    assert (hsm.calls["seal"], hsm.calls["unseal"]) == (1, 0)
    with k.platform.store.reader() as r:
        entry = orjson.loads(r.opening_entry_get(t["id"], "custody", "platform-key") or b"{}")
    assert entry["provider"] == "hsm-like/test"
    assert base64.b64decode(entry["sealed"]).startswith(b"HSM1:")  # a handle: the key is in the HSM's store
    assert not (k.platform.data / "custody" / "master.key").exists()  # the embedded sealer was never used
    bids = [k.submit(f"bidder-{i}", t["id"])["body"]["bid_id"] for i in (1, 2)]
    k.close(t["id"])
    # past the deadline, before the opening time: the kernel's gate refuses, the HSM is never asked
    with pytest.raises(ApiError) as e:
        k.client("agency-a", "agency").open_tender(t["id"])
    _problem(e, 409, "too-early")
    assert hsm.calls["unseal"] == 0

    st = k.open(t["id"])
    assert st["state"] == "opened" and sorted(st["record"]["record"]["opened"]) == sorted(bids)
    assert hsm.unsealed == {f"bidkernel/tender/{t['id']}/platform-key"}  # the HSM gave the opening key
    assert [row["fields"]["price"] for row in st["table"]] == [1000, 1000]
    # audited plugin signatures go through the same custody
    signed = k.host.handle("hsm").sign("test", b"message")
    assert sm2.verify(hsm._signer.certificate.public_key, b"message", signed.signature, id=sm2.DEFAULT_ID,
                      fmt="der")  # fmt: skip


def test_the_hsm_signs_receipts_checkpoints_and_opening_records(
    hsm_kernel: tuple[RunningKernel, HsmLike],
) -> None:
    k, hsm = hsm_kernel
    t = k.tender(quorum=1, opening=_iso((k.now().timestamp() + 1200) * 1000))
    before = hsm.calls["sign"]
    receipt = k.submit("bidder-1", t["id"])
    # the receipt's signature and the checkpoint committed with it: both by the device
    assert hsm.calls["sign"] >= before + 2
    verify_receipt(receipt, roots=[k.platform.pki.ca.root.certificate])
    k.close(t["id"])
    k.advance(max(0.0, t["opening_ms"] / 1000 - k.time.system()) + 1)
    before = hsm.calls["sign"]
    st = k.open(t["id"])
    assert st["state"] == "opened" and hsm.calls["sign"] > before  # the opening record
    rec = st["record"]
    assert sm2.verify(k.platform.pki.platform.certificate.public_key, canonical_json(rec["record"]),
                      base64.b64decode(rec["signature"]), id=sm2.DEFAULT_ID, fmt="der")  # fmt: skip
    # a device that signs with another key: refused, never handed out as a receipt
    stranger = TestCA.create("CN=other,O=test").issue("CN=stray key,O=test")
    platform_signer = hsm._signer
    hsm._signer = stranger
    hsm._signer = platform_signer
    t2 = k.tender(quorum=1)
    hsm._signer = stranger
    with pytest.raises(ApiError) as e:
        k.submit("bidder-2", t2["id"])
    # the bid is durable (its ledger entry committed; a checkpoint covering it comes once a signature
    # verifies), but no receipt went out with a signature nobody can verify
    detail = _problem(e, 503, "key-custody-unavailable")["detail"]
    bid_id = detail.split()[1]
    assert "is committed" in detail and f"GET /bids/{bid_id}/receipt" in detail
    assert _ledger_count(k, "bid.received", t2["id"]) == 1
    bidder = k.client("bidder-2")
    with pytest.raises(ApiError) as e:
        bidder.call("GET", f"/bids/{bid_id}/receipt")
    _problem(e, 503, "key-custody-unavailable")
    hsm._signer = platform_signer  # the device holds the platform key again: the receipt is issued
    late = bidder.call("GET", f"/bids/{bid_id}/receipt")
    assert late["body"]["bid_id"] == bid_id
    verify_receipt(late, roots=[k.platform.pki.ca.root.certificate])


def test_a_custody_provider_holding_another_key_stops_start_up(tmp_path: Path) -> None:
    ca = TestCA.create("CN=HSM vendor CA,O=test")
    hsm = HsmLike(tmp_path / "hsm", ca.issue("CN=not the platform key,O=test"))
    with pytest.raises(PluginError, match="not the platform certificate"):
        start_kernel(tmp_path, plugins=[("hsm", Provides(custody=hsm))])


def test_a_failing_hsm_refuses_publication_cleanly_and_the_opening_waits_for_it(
    hsm_kernel: tuple[RunningKernel, HsmLike], caplog: pytest.LogCaptureFixture
) -> None:
    k, hsm = hsm_kernel
    caplog.set_level(logging.WARNING, logger="bidkernel")
    agency = k.client("agency-a", "agency")
    draft = k.tender(publish=False, quorum=1)
    hsm.fail_seal = True
    with pytest.raises(ApiError) as e:
        agency.call("POST", f"/tenders/{draft['id']}/publish")
    p = _problem(e, 503, "key-custody-unavailable")
    assert "RuntimeError" in p["detail"] and "pin" not in p["detail"]  # the provider's message stays in the log
    assert agency.call("GET", f"/tenders/{draft['id']}")["state"] == "draft"  # nothing published
    assert _ledger_count(k, "tender.published", draft["id"]) == 0
    with k.platform.store.reader() as r:
        assert r.opening_entry_get(draft["id"], "custody", "platform-key") is None
    hsm.fail_seal = False
    t = agency.call("POST", f"/tenders/{draft['id']}/publish")
    bid = k.submit("bidder-1", t["id"])["body"]["bid_id"]
    k.close(t["id"])

    hsm.fail_unseal = True
    k.advance(max(0.0, t["opening_ms"] / 1000 - k.time.system()) + 1)
    agency.open_tender(t["id"])
    st = _wait(lambda: (s := agency.opening_status(t["id"])).get("provider_error") and s, "the provider error")
    assert st["state"] == "opening" and st["provider_error"]["type"] == "key-custody-unavailable"
    assert "pin" not in st["provider_error"]["detail"]
    assert not (k.platform.data / "plaintext" / t["id"]).exists() or not any(
        (k.platform.data / "plaintext" / t["id"]).rglob("*")
    )  # nothing decrypted
    hsm.fail_unseal = False  # the device is back: the background tick finishes the opening
    st = _wait(lambda: (s := agency.opening_status(t["id"]))["state"] in ("opened", "failed") and s, "the opening")
    assert st["state"] == "opened" and st["record"]["record"]["opened"] == [bid]
    assert "provider_error" not in st
    # the kernel logged the failures, by exception type only: the device's message (a PIN) is nowhere
    logged = [r.getMessage() for r in caplog.records]
    assert any("key custody (hsm-like/test) provider failed: RuntimeError" in m for m in logged), logged
    assert not [m for m in logged if "123456" in m]


# ----------------------------------------------------------------------------------------- timestamps
class ExternalTsa:
    """A second, independent RFC 3161 TSA (its own CA, key and certificate) served over HTTP on loopback,
    reached through the kernel's own RFC 3161 client — what a deployment gets from a national time
    service. ``fail`` makes the next N calls raise; ``lie`` asks for a token over other data."""

    def __init__(self, tmp: Path) -> None:
        self.ca = TestCA.create("CN=external time service CA,O=test")
        self.issued = self.ca.issue(
            "CN=external TSA,O=test",
            key_usage=(KeyUsage.DIGITAL_SIGNATURE, KeyUsage.CONTENT_COMMITMENT),
            extended_key_usage=[ID_KP_TIMESTAMPING],
        )
        self.serials = tmp / "external-tsa-serial.sqlite"
        self.client: TSAClient | None = None
        self.server: Any = None
        self.stamps = 0
        self.fail = 0
        self.lie = False

    def start(self, time_source: ShiftableTime) -> None:
        import threading

        import uvicorn

        from bidkernel.api.app import create_app
        from bidkernel.testing import free_port

        # its own clock instance over the test's shiftable time (the kernel's time travels; so must it)
        clock = TrustedClock(system=time_source.system, monotonic=time_source.mono)
        tsa = TimeStampAuthority(signer=Sm2Signer(self.issued.key), certificate=_cx(self.issued),
                                 chain=[_cx(self.ca.root)], policy="1.2.156.112233.9.9",
                                 serials=SqliteSerialCounter(self.serials), clock=clock)  # fmt: skip
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(create_app(tsa=tsa), host="127.0.0.1", port=port,
                                                    log_level="warning"))  # fmt: skip
        threading.Thread(target=self.server.run, daemon=True).start()
        _wait(lambda: self.server.started, "the external TSA")
        ep = TSAEndpoint(f"http://127.0.0.1:{port}/tsa", self.trust(), hash_algorithm="sm3", name="external")
        self.client = TSAClient([ep], retries=0)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    def stamp(self, data: bytes) -> bytes:
        assert self.client is not None
        self.stamps += 1
        if self.fail:
            self.fail -= 1
            raise ConnectionError("tsa.example.internal:318 refused")
        return self.client.stamp(b"other data" if self.lie else data)

    def trust(self) -> Trust:
        return Trust([_cx(self.ca.root)])


def test_an_external_tsa_stamps_receipts_closing_and_opening(tmp_path: Path) -> None:
    ext = ExternalTsa(tmp_path)
    k = start_kernel(tmp_path, plugins=[("ntsc", Provides(timestamps=ext))])
    try:
        ext.start(k.time)
        kernel_root = k.platform.pki.ca.root.certificate
        t = k.tender(quorum=1)
        receipt = k.submit("bidder-1", t["id"])
        token = base64.b64decode(receipt["timestamp_token"])
        info = verify_token(token, signed_message(receipt["body"]), ext.trust())
        assert "external TSA" in info.signer_subject
        with pytest.raises(TimestampError):  # not the kernel's embedded TSA
            verify_token(token, signed_message(receipt["body"]), Trust([_cx(k.platform.pki.ca.root)]))
        verify_receipt(receipt, roots=[kernel_root, ext.ca.root.certificate])  # a whole receipt verifies
        assert ext.stamps == 1

        # the source fails once: the bid is committed and durable, no receipt is issued until it answers
        ext.fail = 1
        with pytest.raises(ApiError) as e:
            k.client("bidder-2").submit(t["id"], k.seal("bidder-2", t["id"]))
        p = _problem(e, 503, "timestamp-unavailable")
        assert "tsa.example" not in p["detail"] and "/receipt" in p["detail"]
        with k.platform.store.reader() as r:
            b2 = next(b for b in r.bids_of_tender(t["id"]) if b.bidder_org == "bidder-2")
            assert r.receipt_get(b2.id, "bid.received") is None
        late = k.client("bidder-2").call("GET", f"/bids/{b2.id}/receipt")
        verify_token(base64.b64decode(late["timestamp_token"]), signed_message(late["body"]), ext.trust())

        # a source answering a token over other data is refused: it cannot stand in for this data
        ext.lie = True
        with pytest.raises(ApiError) as e:
            k.client("bidder-3").submit(t["id"], k.seal("bidder-3", t["id"]))
        _problem(e, 503, "timestamp-unavailable")
        ext.lie = False

        # the deadline seals the tender whatever the TSA does; the closing record waits for its token
        ext.fail = 10**6
        k.advance(max(0.0, t["deadline_ms"] / 1000 - k.time.system()) + 1)
        _wait(lambda: _ledger_count(k, "deadline.sealed", t["id"]) == 1, "the sealing leaf")
        with pytest.raises(ApiError) as e:
            k.client().call("GET", f"/tenders/{t['id']}/closing")
        _problem(e, 503, "timestamp-unavailable")
        with pytest.raises(ApiError) as e:  # sealed: no bid after the deadline, TSA or not
            k.client("bidder-5").submit(t["id"], k.seal("bidder-5", t["id"]))
        _problem(e, 409, "deadline-passed")
        ext.fail = 3
        closing = k.close(t["id"])
        assert ext.fail == 0 and _ledger_count(k, "deadline.sealed", t["id"]) == 1  # sealed once, stamped later
        verify_token(base64.b64decode(closing["timestamp_token"]), closing["checkpoint"].encode(), ext.trust())

        # the opening record waits for its token too: decrypted, but no record, no outcome, until it answers
        ext.fail = 10**6
        agency = k.client("agency-a", "agency")
        k.advance(max(0.0, t["opening_ms"] / 1000 - k.time.system()) + 1)
        agency.open_tender(t["id"])
        st = _wait(lambda: (s := agency.opening_status(t["id"])).get("provider_error") and s, "the provider error")
        assert st["state"] == "opening" and st["provider_error"]["type"] == "timestamp-unavailable"
        assert _ledger_count(k, "opening.record", t["id"]) == 0
        ext.fail = 0
        st = k.open(t["id"])
        assert _ledger_count(k, "opening.record", t["id"]) == 1
        rec = st["record"]
        verify_token(base64.b64decode(rec["timestamp_token"]), canonical_json(rec["record"]), ext.trust())
    finally:
        ext.stop()
        k.stop()


# ----------------------------------------------------------------------------------------- blob store
class DirBlobs:
    """Envelope files in another directory (an object store stand-in): ``put`` copies, fsyncs the file
    and its directory before returning. ``fail_on`` makes that ``put`` call raise (a full disk)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.calls: Counter[str] = Counter()
        self.fail_on = 0
        self.deleted: list[str] = []

    def put(self, sm3_hex: str, path: Path) -> None:
        self.calls["put"] += 1
        if self.calls["put"] == self.fail_on:
            raise OSError(28, "No space left on device: /mnt/oss-bucket-7")
        tmp = self.root / f".{sm3_hex}.tmp"
        shutil.copyfile(path, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.root / sm3_hex)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def exists(self, sm3_hex: str) -> bool:
        return (self.root / sm3_hex).is_file()

    def open(self, sm3_hex: str) -> Any:
        self.calls["open"] += 1
        return open(self.root / sm3_hex, "rb")

    def delete(self, sm3_hex: str) -> None:
        self.deleted.append(sm3_hex)
        (self.root / sm3_hex).unlink(missing_ok=True)


def test_envelopes_live_in_the_plugins_blob_store_and_open_from_it(tmp_path: Path) -> None:
    store = DirBlobs(tmp_path / "object-store")
    k = start_kernel(tmp_path, plugins=[("oss", Provides(blobs=store))])
    try:
        t = k.tender(quorum=2)
        receipts = [k.submit(f"bidder-{i}", t["id"]) for i in (1, 2, 3)]
        names = {e["sm3"] for r in receipts for e in r["body"]["envelopes"]}
        assert names == {p.name for p in store.root.iterdir()}  # every envelope, in the plugin's store
        assert not list(k.platform.blobs.iter_names())  # and none in the local one
        assert not list(k.platform.blobs.tmp_dir.iterdir())  # no staged copy left behind

        # the store fails on the second envelope of a bid: no bid, no receipt, the first envelope removed
        store.fail_on = store.calls["put"] + 2
        with pytest.raises(ApiError) as e:
            k.client("bidder-4").submit(t["id"], k.seal("bidder-4", t["id"]))
        p = _problem(e, 503, "blob-store-unavailable")
        assert "oss-bucket" not in p["detail"]
        with k.platform.store.reader() as r:
            assert [b.bidder_org for b in r.bids_of_tender(t["id"])] == ["bidder-1", "bidder-2", "bidder-3"]
            assert not any(x.kind == "bid.received" and b"bidder-4" in x.payload for x in r.outbox_list(limit=1000))
        assert len(store.deleted) == 1 and store.deleted[0] not in names
        assert names == {p.name for p in store.root.iterdir()}
        assert not list(k.platform.blobs.tmp_dir.iterdir())

        # the store's copy of bidder-3's document is damaged: that bid fails (the platform's fault)
        doc3 = next(e["sm3"] for e in receipts[2]["body"]["envelopes"] if e["name"] != "summary")
        raw = bytearray((store.root / doc3).read_bytes())
        raw[-100] ^= 0x55
        (store.root / doc3).write_bytes(bytes(raw))
        k.close(t["id"])
        opens = store.calls["open"]
        st = k.open(t["id"])
        assert store.calls["open"] - opens == len(names)  # every envelope read back from the plugin's store
        assert st["state"] == "opened"
        rows = {row["bid_id"]: row for row in st["table"]}
        b1, b2, b3 = (r["body"]["bid_id"] for r in receipts)
        assert rows[b1]["status"] == rows[b2]["status"] == "opened" and rows[b3]["status"] == "failed"
        assert [(f["bid_id"], f["cause"]) for f in st["failures"]] == [(b3, "digest-mismatch")]
        assert rows[b1]["fields"]["bidder"] == "bidder-1"
        # the opening's local copies are gone once the record is committed
        assert not [f for f in (k.platform.data / "blob-cache").rglob("*") if f.is_file()]
    finally:
        k.stop()


# ------------------------------------------------------------------------------------------- notifier
class Inbox:
    def __init__(self) -> None:
        self.notices: list[tuple[str, str, str]] = []

    def notify(self, recipient: str, subject: str, body: str) -> None:
        self.notices.append((recipient, subject, body))


class Announcer:
    """Another plugin that sends a notice when a tender is published (docs/plugin_hooks.md example)."""

    @hookimpl
    def bidkernel_tender_published(self, event: OutboxEvent, kernel: PluginKernel) -> None:
        kernel.notify(event.data["agency_org"], "公告已发布", event.data["title"])


def test_the_notifier_plugin_receives_the_notices_plugins_send(tmp_path: Path) -> None:
    inbox = Inbox()
    k = start_kernel(tmp_path, plugins=[("sms", Provides(notifier=inbox)), ("announcer", Announcer())])
    try:
        t = k.tender()
        k.deliver_all()
        assert inbox.notices == [(t["agency_org"], "公告已发布", t["title"])]
        assert not (k.platform.data / "notices.jsonl").exists()  # the default notifier was replaced
    finally:
        k.stop()


def _iso(ms: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()
