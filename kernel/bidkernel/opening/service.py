"""The opening recipe: release keys -> 唱标 envelopes -> bulk decryption -> signed opening record.

Rules (../shared/DOMAIN.md; 电子招标投标办法 2013): nothing is decrypted before the opening time by the
kernel's trusted clock (every entry point re-checks it, and no time can be passed in); the 唱标 summaries
open first, in one native batch, so the table is ready in seconds; the documents follow in one native
batch per tender (GIL released once, rayon across cores, each file streamed from the blob store with its
SM3 re-checked in the same pass and its plaintext renamed into place only after that check); a bid that
fails gets a structured cause and the others open on (Art. 31); fewer valid bids than the tender's
quorum (3 by default) fails the procedure.

Progress is durable per envelope (``opening_entries`` kind ``item``): a restarted opening skips every
envelope already recorded and every plaintext file already renamed into place (a file exists only after
its digest check), so a crash never makes an envelope decrypt twice. The record is signed by the platform
key, timestamped by the kernel's TSA and appended to the ledger as ``opening.record``; the state change
and the outbox events (``opening.opened``, ``opening.bid_failed``) commit in the same transaction.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bidkernel import _native, providers
from bidkernel.authn import Principal
from bidkernel.crypto import oids, sm2
from bidkernel.crypto.envelope import (
    EnvelopeFormatError,
    EnvelopeHeader,
    NotARecipient,
    parse_header,
    read_header_from_file,
    unwrap_content_key,
)
from bidkernel.crypto.errors import CryptoError, DecryptionError, InvalidPadding
from bidkernel.crypto.sm3 import sm3, sm3_file
from bidkernel.crypto.x509 import Certificate
from bidkernel.custody import tender_keys
from bidkernel.ledger.events import Event, canonical_json
from bidkernel.opening import keycheck
from bidkernel.opening.evidence import failure, remedied
from bidkernel.platform import Platform, utc_ms
from bidkernel.problems import KernelError
from bidkernel.store.base import BidRow, TenderRow, Transaction
from bidkernel.tenders import TenderService, check_id

FINAL = ("opened", "failed")
SUMMARY = "summary"  # the 唱标 envelope (bidkernel.intake.SUMMARY)
SUMMARY_IN_MEMORY = 1 << 20  # larger "summaries" are opened like documents, to a file
RECORD_FORMAT = "bidkernel/opening-record/v1"
ITEM, BIDKEY, BACKUP, CONFIRM, OBJECTION = "item", "bidkey", "backup", "confirm", "objection"
REFUSED = "bidkey-refused"  # key releases refused by the key check (evidence)
REMEDY = "remedy-due"  # bidder custody, threshold remedy: envelopes the custodians' key is to open

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def tender_lock(tender_id: str) -> threading.Lock:
    """One opening runs per tender at a time in this process."""
    with _locks_guard:
        return _locks.setdefault(tender_id, threading.Lock())


def plaintext_dir(p: Platform, tender_id: str, bid_id: str) -> Path:
    """Where a bid's plaintext lives: ``DIR/plaintext/<tender>/<bid>/`` (0700: the kernel's user only;
    over HTTP only the agency, the supervisor and the bidder itself may read it, after the opening)."""
    return p.data / "plaintext" / tender_id / bid_id


def _mkdirs(d: Path) -> None:
    d.mkdir(mode=0o700, parents=True, exist_ok=True)


def _sealed_label(tender_id: str, what: str) -> str:
    return f"bidkernel/tender/{tender_id}/{what}"


@dataclass
class Job:
    """One envelope to decrypt: where it is, its content key, and how the key was obtained."""

    bid: BidRow
    name: str
    sm3_hex: str
    path: Path
    header: EnvelopeHeader
    key: bytes
    via: str  # "tender-key" | "bidder-key" | "backup" | "threshold-remedy"
    note: dict[str, Any] = field(default_factory=dict)  # evidence kept with the item (key check, remedy)

    def __repr__(self) -> str:
        return f"Job({self.bid.id}/{self.name}, via={self.via})"


class OpeningService:
    """The opening of tenders over a :class:`Platform` (docs/protocol.md "Opening")."""

    def __init__(
        self,
        platform: Platform,
        tenders: TenderService | None = None,
        *,
        batch_items: int | None = None,
        pause_s: float | None = None,
    ) -> None:
        self.p = platform
        self.tenders = tenders or TenderService(platform)
        # Documents go to the native code in one batch per tender unless a smaller batch is configured:
        # progress is recorded after each batch, and a pause between batches leaves disk time to intake.
        env_items = os.environ.get("BIDKERNEL_OPENING_BATCH", "0")
        env_pause = os.environ.get("BIDKERNEL_OPENING_PAUSE_MS", "0")
        self.batch_items = batch_items if batch_items is not None else int(env_items or 0)
        self.pause_s = pause_s if pause_s is not None else int(env_pause or 0) / 1000
        self.native_s = 0.0

    # ----------------------------------------------------------------------------------- reading
    def _doc(self, tender_id: str) -> dict[str, Any]:
        doc = self.tenders.get(check_id(tender_id, "tender"))
        if doc["state"] == "draft":
            raise KernelError("not-found", "no such tender")
        return doc

    def require_opening_time(self, doc: dict[str, Any]) -> None:
        """The one time gate: trusted time (never a caller's) must have reached the opening time."""
        if not self.p.clock.has_reached(doc["opening_ms"] / 1000):
            raise KernelError("too-early", f"the opening is at {utc_ms(doc['opening_ms'])} (trusted time)")

    def require_attested_time(self, doc: dict[str, Any]) -> None:
        """Before a key the platform holds is unsealed: the time gate again, on a time the caller's clock
        argument does not reach (:mod:`bidkernel.opening.gate`: the configured TSA's verified token over a
        fresh label, else the embedded TSA key on the kernel's own clock): genTime − accuracy must have
        reached the opening time (RFC 3161 §2.4.2), else ``too-early`` and nothing is unsealed."""
        import secrets

        from bidkernel.opening import gate

        label = b"bidkernel/opening-gate/" + doc["id"].encode() + b"/" + secrets.token_bytes(16)
        got = gate.attested_time(self.p, label)
        if got.earliest_ms < doc["opening_ms"]:
            raise KernelError(
                "too-early",
                f"the attested time {got.gen_time.isoformat()} ({got.source}) is before the opening at "
                f"{utc_ms(doc['opening_ms'])}: no key is unsealed",
            )

    def state(self, tender_id: str) -> dict[str, Any] | None:
        with self.p.store.reader() as r:
            raw = r.opening_get(tender_id)
        return None if raw is None else dict(orjson.loads(raw))

    def status(self, tender_id: str, who: Principal | None) -> dict[str, Any]:
        """The status document (docs/api.md): agency, supervisor and bidders while it runs; anyone after."""
        doc = self._doc(tender_id)
        st = self.state(doc["id"])
        finished = st is not None and st["state"] in FINAL
        if not finished:
            owner = who is not None and who.role == "agency" and who.org == doc["agency_org"]
            bidder = False
            if who is not None and who.role == "bidder":
                with self.p.store.reader() as r:
                    bidder = bool(r.bids_of_tender(doc["id"], bidder_fp=who.fp))
            if who is None or not (owner or bidder or who.role == "supervisor"):
                raise KernelError("forbidden", "the opening is shown to its tender's parties until it has finished")
        if st is None:
            return {
                "tender_id": doc["id"], "state": "waiting", "custody": doc["custody"], "opening_ms": doc["opening_ms"],
                "window_end_ms": _window_end(doc), "started_ms": None, "summary_ms": None, "finished_ms": None,
                "table": [], "failures": [], "record_index": None,
            }  # fmt: skip
        with self.p.store.reader() as r:
            confirms = {k: orjson.loads(v) for k, v in r.opening_entries(doc["id"], CONFIRM)}
            objections = [orjson.loads(v) for _k, v in r.opening_entries(doc["id"], OBJECTION)]
        for row in st["table"]:
            row["confirmed"] = row["bid_id"] in confirms
            row["objections"] = [o for o in objections if o.get("bid_id") == row["bid_id"]]
        st["objections"] = objections
        return st

    # ----------------------------------------------------------------------------------- starting
    def start(self, who: Principal, tender_id: str) -> dict[str, Any]:
        """The agency starts the opening (idempotent). Refused ``too-early`` before the opening time."""
        doc = self._doc(tender_id)
        if who.role != "agency" or who.org != doc["agency_org"]:
            raise KernelError("forbidden", "only the tender's agency opens it")
        self.require_opening_time(doc)
        if doc["custody"] == "platform" and doc["opening_certificates"] and not self._kernel_key(doc["id"]):
            raise KernelError("custody-unavailable", "the opening keys are the agency's own: the kernel holds none")
        closing = self.tenders.seal(doc["id"])  # the closing record comes first (idempotent)
        st = self.state(doc["id"])
        if st is not None:
            return st
        now = self.p.now_ms()
        st = {
            "tender_id": doc["id"], "state": "opening", "custody": doc["custody"], "opening_ms": doc["opening_ms"],
            "window_end_ms": _window_end(doc), "started_ms": now, "summary_ms": None, "finished_ms": None,
            "table": [], "failures": [], "record_index": None, "closing_log_index": closing["log_index"],
            "live_bids": closing["live_bids"], "started_by": who.fp,
        }  # fmt: skip
        event = Event("opening.started", now, {"tender_id": doc["id"], "custody": doc["custody"],
                                                "bids": len(closing["live_bids"]), "by": who.fp})  # fmt: skip

        def within(tx: Transaction, index: int) -> None:
            if tx.opening_get(doc["id"]) is not None:
                raise _AlreadyStarted()
            st["start_index"] = index
            tx.opening_put(doc["id"], "opening", orjson.dumps(st))
            _set_tender_state(tx, doc["id"], "opening")

        try:
            self.p.log.append(event, within=within)
        except _AlreadyStarted:
            pass
        out = self.state(doc["id"])
        assert out is not None
        return out

    def _kernel_key(self, tender_id: str) -> bool:
        with self.p.store.reader() as r:
            return r.opening_entry_get(tender_id, tender_keys.ENTRY, "platform-key") is not None

    # ----------------------------------------------------------------------------------- running
    def advance(self, tender_id: str, *, blocking: bool = True) -> dict[str, Any]:
        """Do everything the opening can do now; finish when every envelope is resolved (idempotent)."""
        lock = tender_lock(tender_id)
        if not lock.acquire(blocking=blocking):
            st = self.state(tender_id)
            if st is None:
                raise KernelError("opening-state", "the opening has not started")
            return st
        try:
            return self._advance(tender_id)
        except KernelError as exc:
            if exc.kind in providers.PROVIDER_PROBLEMS:  # retried by the tick; shown in the status meanwhile
                self._note_provider_error(tender_id, exc)
            raise
        finally:
            lock.release()

    def _note_provider_error(self, tid: str, exc: KernelError) -> None:
        with self.p.store.transaction() as tx:
            cur = tx.opening_get(tid)
            if cur is not None and orjson.loads(cur)["state"] == "opening":
                st = orjson.loads(cur)
                st["provider_error"] = {"type": exc.kind, "detail": exc.detail}
                tx.opening_put(tid, "opening", orjson.dumps(st))

    def _advance(self, tender_id: str) -> dict[str, Any]:
        st = self.state(check_id(tender_id, "tender"))
        if st is None:
            raise KernelError("opening-state", "the opening has not started")
        if st["state"] in FINAL:
            return st
        st.pop("provider_error", None)  # this attempt decides afresh (the next save drops a stale one)
        doc = self._doc(tender_id)
        self.require_opening_time(doc)
        tid = doc["id"]
        with self.p.store.reader() as r:
            bids = [b for b in (r.bid_get(x) for x in st["live_bids"]) if b is not None]
        bids.sort(key=lambda b: b.log_index)
        for tmp in (self.p.data / "plaintext" / tid).glob("*/.*.tmp"):  # partial output of a crashed run
            tmp.unlink(missing_ok=True)
        self._open_pending(tid, doc, st, bids)
        if doc["custody"] == "bidder" and self.p.clock.has_reached(_window_end(doc) / 1000):
            if self._close_window(tid, doc, bids):
                self._open_pending(tid, doc, st, bids)  # the threshold remedy, at once if k shares are in
        items = self._progress(tid, st, bids)
        every = [f"{b.id}/{e['name']}" for b in bids for e in orjson.loads(b.manifest)]
        if all(k in items for k in every):
            return self._finish(tid, doc, st, bids, items)
        return st

    def _open_pending(self, tid: str, doc: dict[str, Any], st: dict[str, Any], bids: list[BidRow]) -> None:
        """Open every envelope whose key is available now: 唱标 summaries first, then the documents."""
        with self.p.store.reader() as r:
            items = {k: orjson.loads(v) for k, v in r.opening_entries(tid, ITEM)}
        pending = [(b, e) for b in bids for e in orjson.loads(b.manifest) if f"{b.id}/{e['name']}" not in items]
        first = [(b, e) for b, e in pending if e["name"] == SUMMARY and e["size"] <= SUMMARY_IN_MEMORY]
        first_keys = {(b.id, e["name"]) for b, e in first}
        rest = [(b, e) for b, e in pending if (b.id, e["name"]) not in first_keys]
        # 唱标 first: the summaries' keys, one native batch in memory, the table saved; then the documents
        for part, in_memory in ((first, True), (rest, False)):
            jobs, fails = self._jobs(doc, part)
            failed = {f"{f['bid_id']}/{f['envelope']}": {"status": "failed", "failure": f} for f in fails}
            self._save_items(tid, failed)
            self._run(tid, doc, jobs, in_memory=in_memory)
            if in_memory:
                self._progress(tid, st, bids)

    def _progress(self, tid: str, st: dict[str, Any], bids: list[BidRow]) -> dict[str, Any]:
        with self.p.store.reader() as r:
            items = {k: orjson.loads(v) for k, v in r.opening_entries(tid, ITEM)}
            due = [k for k, _ in r.opening_entries(tid, REMEDY)]
        st["table"] = _table(bids, items)
        if due or "awaiting_remedy" in st:
            st["awaiting_remedy"] = sorted(k for k in due if k not in items)
        fill_summaries(st["table"], items)
        st["failures"] = [v["failure"] for _k, v in sorted(items.items()) if v["status"] == "failed"]
        if st["summary_ms"] is None and all(f"{b.id}/summary" in items for b in bids):
            st["summary_ms"] = self.p.now_ms()
        new = orjson.dumps(st)
        with self.p.store.reader() as r:
            unchanged = r.opening_get(tid) == new
        if not unchanged:  # the background tick calls this every second: write only what changed
            with self.p.store.transaction() as tx:
                cur = tx.opening_get(tid)
                if cur is not None and orjson.loads(cur)["state"] == "opening":
                    tx.opening_put(tid, "opening", new)
        return items

    # keys ----------------------------------------------------------------------------------------
    def _tender_key(self, doc: dict[str, Any]) -> tuple[sm2.PrivateKey, Certificate] | None:
        tid = doc["id"]
        with self.p.store.reader() as r:
            setup = tender_keys.setup_of(r, tid)
        fp = setup.get("certificate")
        cert = next((c for c in map(_cert, doc["opening_certificates"]) if c.fingerprint.hex() == fp), None)
        if cert is None:
            raise KernelError("custody-unavailable", "the tender's kernel-held certificate is missing")
        if doc["custody"] == "platform":
            self.require_attested_time(doc)
            return tender_keys.sealed_platform_key(self.p, tid), cert
        key = tender_keys.threshold_key(self.p, tid)
        return None if key is None else (key, cert)

    def _jobs(
        self, doc: dict[str, Any], pending: list[tuple[BidRow, dict[str, Any]]]
    ) -> tuple[list[Job], list[dict[str, Any]]]:
        """Content keys for the pending envelopes: unwrapped with the tender key, or released by bidders."""
        if not pending:
            return [], []
        tid = doc["id"]
        jobs: list[Job] = []
        fails: list[dict[str, Any]] = []
        now = self.p.now_ms()
        over = doc.get("attribution")

        def fail(b: BidRow, name: str, cause: str, detail: str) -> None:
            fails.append(failure(b.id, name, cause, detail, now, over))

        heads: dict[Path, EnvelopeHeader | Exception] = {}
        reused: dict[str, dict[str, Any]] = {}

        blob_path = {e["sm3"]: providers.local_path(self.p, e["sm3"]) for _b, e in pending}

        def prefetch(todo: list[tuple[BidRow, dict[str, Any]]]) -> None:
            """Headers read in parallel: each is one small cold read, latency-bound on a busy disk."""
            paths = [blob_path[e["sm3"]] for _b, e in todo]
            if paths:
                with ThreadPoolExecutor(min(8, len(paths))) as ex:
                    heads.update(zip(paths, ex.map(_try_read_header, paths, chunksize=16), strict=True))

        def reuse(b: BidRow, e: dict[str, Any]) -> bool:
            """A plaintext renamed into place before a crash is final (renamed only after its SM3 check)."""
            if e["name"] == SUMMARY and e["size"] <= SUMMARY_IN_MEMORY:
                return False  # summaries are kept in the store, never as files
            out: Path = plaintext_dir(self.p, tid, b.id) / str(e["name"])
            done = out.exists()
            if done:
                reused[f"{b.id}/{e['name']}"] = {"status": "done", "bytes": out.stat().st_size, "via": "resumed"}
            return done

        def header(b: BidRow, e: dict[str, Any]) -> tuple[Path, EnvelopeHeader] | None:
            path = blob_path[e["sm3"]]
            try:
                got = heads[path]
                if isinstance(got, Exception):
                    raise got
                return path, got
            except OSError as exc:
                fail(b, e["name"], "platform-fault", f"the stored envelope cannot be read ({exc.strerror})")
            except (CryptoError, ValueError, IndexError):
                cause = _blame(path, e["sm3"], "malformed-ciphertext")
                fail(b, e["name"], cause, "the envelope header does not parse")
            return None

        if doc["custody"] in ("platform", "threshold"):
            got = self._tender_key(doc)
            if got is None:
                return [], []  # waiting for k custodians
            key, cert = got
            todo = [(b, e) for b, e in pending if not reuse(b, e)]
            prefetch(todo)
            wrapped: list[tuple[BidRow, dict[str, Any], Path, EnvelopeHeader, bytes]] = []
            for b, e in todo:
                h = header(b, e)
                if h is None:
                    continue
                try:
                    slot = h[1].slot_for(cert)
                except NotARecipient:
                    fail(b, e["name"], "wrong-recipient", "the envelope is not sealed to the tender's opening key")
                    continue
                if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
                    fail(b, e["name"], "malformed-ciphertext", "the content key is not wrapped with SM2")
                    continue
                wrapped.append((b, e, h[0], h[1], slot.encrypted_key))
            # every content key unwrapped in one native call (GB/T 32918.4 §7; GIL released, all cores)
            keys = sm2.decrypt_many(key, [w[4] for w in wrapped])
            del key
            for (b, e, path, hdr, _ct), ck in zip(wrapped, keys, strict=True):
                if not isinstance(ck, bytes) or len(ck) != 16:
                    cause = _blame(path, e["sm3"], "malformed-ciphertext")
                    fail(b, e["name"], cause, "the wrapped content key does not decrypt (GB/T 32918.4 check)")
                    continue
                jobs.append(Job(b, e["name"], e["sm3"], path, hdr, ck, "tender-key"))
            self._save_items(tid, reused)
            return jobs, fails
        # bidder custody: keys the bidders released, else a backup opened with the remedy key, else (threshold
        # remedy) the content key unwrapped with the custodians' key for envelopes marked due
        with self.p.store.reader() as r:
            released = {k: orjson.loads(v) for k, v in r.opening_entries(tid, BIDKEY)}
            backups = {k: orjson.loads(v) for k, v in r.opening_entries(tid, BACKUP)}
            due = {k: orjson.loads(v) for k, v in r.opening_entries(tid, REMEDY)}
        remedy: tuple[sm2.PrivateKey, Certificate] | None = None
        prov = tender_keys.provider(self.p)
        todo = [(b, e) for b, e in pending if f"{b.id}/{e['name']}" in released.keys() | backups.keys() | due.keys()]
        todo = [(b, e) for b, e in todo if not reuse(b, e)]
        prefetch(todo)
        remedial: list[tuple[BidRow, dict[str, Any], Path, EnvelopeHeader, dict[str, Any]]] = []
        for b, e in todo:
            k = f"{b.id}/{e['name']}"
            h = header(b, e)
            if h is None:
                continue
            if k in due:
                remedial.append((b, e, h[0], h[1], due[k]))
                continue
            if k in released:
                ck = prov.unseal(_sealed_label(tid, f"bidkey/{k}"), base64.b64decode(released[k]["sealed"]))
                check = released[k].get("check", keycheck.PADDING)  # (releases before the KCV: padding)
                jobs.append(Job(b, e["name"], e["sm3"], h[0], h[1], ck, "bidder-key", {"check": check}))
                continue
            if remedy is None:
                self.require_attested_time(doc)
                remedy = (tender_keys.sealed_platform_key(self.p, tid, "remedy-key"), _cert(doc["remedy_certificate"]))
            try:
                bh = parse_header(base64.b64decode(backups[k]["header"]))
                ck = unwrap_content_key(bh, *remedy)
            except (CryptoError, ValueError):
                fail(b, e["name"], "wrong-key", "the backup's wrapped key does not decrypt with the remedy key")
                continue
            jobs.append(Job(b, e["name"], e["sm3"], h[0], h[1], ck, "backup"))
        if remedial:
            jobs += self._remedy_jobs(doc, remedial, fail)
        self._save_items(tid, reused)
        return jobs, fails

    def _remedy_jobs(
        self,
        doc: dict[str, Any],
        remedial: list[tuple[BidRow, dict[str, Any], Path, EnvelopeHeader, dict[str, Any]]],
        fail: Any,
    ) -> list[Job]:
        """The threshold remedy: content keys unwrapped with the opening key the custodians' k shares rebuild
        (nothing while fewer are in), each checked against the key check value the bidder signed."""
        tid = doc["id"]
        with self.p.store.reader() as r:
            setup = tender_keys.setup_of(r, tid)
        cert = next((c for c in map(_cert, doc["opening_certificates"]) if c.fingerprint.hex() == setup["certificate"]),
                    None)  # fmt: skip
        if cert is None:
            raise KernelError("custody-unavailable", "the tender's threshold certificate is missing")
        key = tender_keys.threshold_key(self.p, tid)
        if key is None:
            return []  # waiting for k custodians
        wrapped: list[tuple[BidRow, dict[str, Any], Path, EnvelopeHeader, dict[str, Any], bytes]] = []
        for b, e, path, hdr, due in remedial:
            try:
                slot = hdr.slot_for(cert)
            except NotARecipient:
                fail(b, e["name"], "wrong-recipient", f"{due['detail']}; the remedy cannot open it: the envelope is "
                                                      "not sealed to the tender's threshold opening key")  # fmt: skip
                continue
            if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
                fail(b, e["name"], "malformed-ciphertext", "the content key is not wrapped with SM2")
                continue
            wrapped.append((b, e, path, hdr, due, slot.encrypted_key))
        keys = sm2.decrypt_many(key, [w[5] for w in wrapped])  # GB/T 32918.4 §7, one native call
        del key
        jobs: list[Job] = []
        now = self.p.now_ms()
        for (b, e, path, hdr, _due_entry, _ct), ck in zip(wrapped, keys, strict=True):
            if not isinstance(ck, bytes) or len(ck) != 16:
                cause = _blame(path, e["sm3"], "malformed-ciphertext")
                fail(b, e["name"], cause, "the content key wrapped to the threshold key does not decrypt")
                continue
            want = keycheck.signed_kcv(e)
            if want is not None and not keycheck.kcv_matches(want, ck):
                fail(b, e["name"], "malformed-ciphertext", "the content key wrapped to the threshold key is not "
                                                           "the one the bidder signed (key check value)")  # fmt: skip
                continue
            note = {"remedied_ms": now, "check": keycheck.KCV if want is not None else "sm2-c3"}
            jobs.append(Job(b, e["name"], e["sm3"], path, hdr, ck, "threshold-remedy", note))
        return jobs

    # decryption ----------------------------------------------------------------------------------
    def _run(self, tid: str, doc: dict[str, Any], jobs: list[Job], *, in_memory: bool) -> None:
        """One native batch over ``jobs`` (or batches of ``batch_items``); summaries come back in memory."""
        step = self.batch_items if self.batch_items > 0 and not in_memory else len(jobs)
        for i in range(0, len(jobs), max(step, 1)):
            if i and self.pause_s:
                time.sleep(self.pause_s)
            self._run_batch(tid, doc, jobs[i : i + step], in_memory=in_memory)

    def _run_batch(self, tid: str, doc: dict[str, Any], jobs: list[Job], *, in_memory: bool) -> None:
        if not jobs:
            return
        self.require_opening_time(doc)  # re-checked right before any plaintext is produced
        outs: list[Path] = []
        for j in jobs:
            d = plaintext_dir(self.p, tid, j.bid.id)
            if not in_memory:
                _mkdirs(d)
            outs.append(d / j.name)
        batch = [
            (j.key, j.header.iv, str(j.path), j.header.ciphertext_offset, j.header.ciphertext_length,
             None if in_memory else str(o), bytes.fromhex(j.sm3_hex))
            for j, o in zip(jobs, outs, strict=True)
        ]  # fmt: skip
        t0 = time.perf_counter()
        results = _native.envelope_open_batch(batch)
        self.native_s += time.perf_counter() - t0  # for benchmarks: the rest is Python overhead
        del batch
        now = self.p.now_ms()
        over = doc.get("attribution")
        entries: dict[str, dict[str, Any]] = {}
        for j, res in zip(jobs, results, strict=True):
            k = f"{j.bid.id}/{j.name}"
            if isinstance(res, bytes):  # a summary: kept in the store with its progress (one commit for all)
                entries[k] = {"status": "done", "bytes": len(res), "via": j.via,
                              "text": base64.b64encode(res).decode(), **j.note}  # fmt: skip
            elif isinstance(res, int):
                entries[k] = {"status": "done", "bytes": res, "via": j.via, **j.note}
            else:
                cause, detail = _cause_of(res, j.via)
                if j.via == "bidder-key" and cause == "wrong-key" and doc.get("remedy") == "threshold":
                    self._mark_due(tid, {k: _due(j.bid.id, j.name, cause, detail, now)})  # the remedy opens it
                else:
                    entries[k] = {"status": "failed", "failure": failure(j.bid.id, j.name, cause, detail, now, over)}
            j.key = b""
        self._save_items(tid, entries)

    def _save_items(self, tid: str, entries: dict[str, dict[str, Any]]) -> None:
        if not entries:
            return
        with self.p.store.transaction() as tx:
            for k, v in entries.items():
                tx.opening_entry_put(tid, ITEM, k, orjson.dumps(v))

    def _mark_due(self, tid: str, entries: dict[str, dict[str, Any]]) -> None:
        with self.p.store.transaction() as tx:
            for k, v in entries.items():
                tx.opening_entry_put(tid, REMEDY, k, orjson.dumps(v))

    def _close_window(self, tid: str, doc: dict[str, Any], bids: list[BidRow]) -> bool:
        """The decryption window is over: every envelope still without a key fails (bidder custody) — or,
        with the threshold remedy, is marked for the remedy with the same cause (True if any was marked)."""
        with self.p.store.reader() as r:
            items = {k for k, _ in r.opening_entries(tid, ITEM)}
            due = {k for k, _ in r.opening_entries(tid, REMEDY)}
            refusals = [orjson.loads(x) for _k, x in r.opening_entries(tid, REFUSED)]
        refused = {(v["bid_id"], v["envelope"]): v for v in refusals}
        now = self.p.now_ms()
        over = doc.get("attribution")
        to_remedy = doc.get("remedy") == "threshold"
        out: dict[str, dict[str, Any]] = {}
        marks: dict[str, dict[str, Any]] = {}
        for b in bids:
            revoked = self.p.is_revoked(b.bidder_fp)
            for e in orjson.loads(b.manifest):
                k = f"{b.id}/{e['name']}"
                if k in items or k in due:
                    continue
                if revoked:
                    cause = "bidder-certificate-revoked"
                    detail = "the bidder's certificate is revoked; no key was released"
                else:
                    cause, detail = "not-decrypted-in-window", f"no key released by {utc_ms(_window_end(doc))}"
                    if to_remedy and (b.id, e["name"]) in refused:
                        r = refused[(b.id, e["name"])]
                        cause, detail = "wrong-key", (f"the key released at {utc_ms(r['time_ms'])} failed the "
                                                      f"{r['failed_check']} check; no valid key by "
                                                      f"{utc_ms(_window_end(doc))}")  # fmt: skip
                if to_remedy:
                    marks[k] = _due(b.id, e["name"], cause, detail, now)
                else:
                    out[k] = {"status": "failed", "failure": failure(b.id, e["name"], cause, detail, now, over)}
        self._save_items(tid, out)
        if marks:
            self._mark_due(tid, marks)
        return bool(marks)

    # the record ----------------------------------------------------------------------------------
    def _finish(
        self, tid: str, doc: dict[str, Any], st: dict[str, Any], bids: list[BidRow], items: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.p.now_ms()
        failures = [v["failure"] for _k, v in sorted(items.items()) if v["status"] == "failed"]
        failed_bids = sorted({f["bid_id"] for f in failures})
        opened = [b.id for b in bids if b.id not in failed_bids]
        outcome = "opened" if len(opened) >= doc["quorum"] else "failed"
        with self.p.store.reader() as r:
            setup = tender_keys.setup_of(r, tid)
            shares = [orjson.loads(v) for _k, v in r.opening_entries(tid, "share-log")]
            checks = {k: orjson.loads(v).get("check", keycheck.PADDING) for k, v in r.opening_entries(tid, BIDKEY)}
            backups = sorted(k for k, _ in r.opening_entries(tid, BACKUP))
            refusals = [orjson.loads(v) for _k, v in r.opening_entries(tid, REFUSED)]
            due = {k: orjson.loads(v) for k, v in r.opening_entries(tid, REMEDY)}
        custody = {k: v for k, v in setup.items() if k != "custodians"}
        if "custodians" in setup:
            custody["custodians"] = [{k: c[k] for k in ("index", "name", "certificate")} for c in setup["custodians"]]
        custody.update(share_releases=shares, bidder_key_releases=sorted(checks), backups=backups)
        over = doc.get("attribution")
        if doc["custody"] == "bidder":  # which check each released key passed; refused releases; remedies
            custody.update(remedy=doc.get("remedy", "none"), bidder_key_checks=checks, key_refusals=[
                {k: x[k] for k in ("bid_id", "envelope", "bidder", "failed_check", "time_ms", "log_index")}
                for x in refusals
            ], remedies=[
                {"bid_id": d["bid_id"], "envelope": d["envelope"], "window_end_ms": _window_end(doc),
                 **remedied(d["reason"], d["detail"], d["time_ms"], items[k].get("remedied_ms"), over)}
                for k, d in sorted(due.items()) if items.get(k, {}).get("status") == "done"
            ])  # fmt: skip
        table = [{k: v for k, v in row.items() if k != "fields"} for row in st["table"]]
        body = {
            "format": RECORD_FORMAT, "tender_id": tid, "opening_ms": doc["opening_ms"],
            "started_ms": st["started_ms"], "summary_ms": st["summary_ms"] or now, "finished_ms": now,
            "closing_log_index": st["closing_log_index"], "quorum": doc["quorum"], "outcome": outcome,
            "opened": opened, "failed": failed_bids, "table": table, "failures": failures, "custody": custody,
        }  # fmt: skip
        msg = canonical_json(body)
        signature = providers.platform_sign(self.p, msg)
        token = providers.stamp(self.p, msg)
        record = {
            "record": body, "record_sm3": sm3(msg).hex(), "signature": base64.b64encode(signature).decode(),
            "timestamp_token": base64.b64encode(token).decode(),
            "platform": self.p.pki.platform.certificate.fingerprint.hex(),
        }  # fmt: skip
        event = Event("opening.record", now, {"tender_id": tid, **record})

        def within(tx: Transaction, index: int) -> None:
            cur = tx.opening_get(tid)
            if cur is None or orjson.loads(cur)["state"] != "opening":
                raise _AlreadyStarted()
            st.update(state=outcome, summary_ms=body["summary_ms"], finished_ms=now, record_index=index,
                      failures=failures, record=record)  # fmt: skip
            tx.opening_put(tid, outcome, orjson.dumps(st))
            _set_tender_state(tx, tid, outcome)
            # the per-bid failures first, then the summary (the order docs/plugin_hooks.md documents)
            for f in failures:
                if f["bid_id"] in failed_bids:
                    data = {"tender_id": tid, **{k: f[k] for k in ("bid_id", "cause", "code", "attribution")}}
                    tx.outbox_add("opening.bid_failed", f"opening.bid_failed/{tid}/{f['bid_id']}",
                                  orjson.dumps(data), now)  # fmt: skip
            payload = {"tender_id": tid, "record_index": index, "opened": opened, "failed": failed_bids}
            tx.outbox_add("opening.opened", f"opening.opened/{tid}", orjson.dumps(payload), now)

        try:
            self.p.log.append(event, within=within)
        except _AlreadyStarted:
            pass
        providers.forget_local(self.p, [e["sm3"] for b in bids for e in orjson.loads(b.manifest)])
        out = self.state(tid)
        assert out is not None
        return out


class _AlreadyStarted(Exception):
    pass


def _cert(pem: str) -> Certificate:
    return Certificate.from_pem(pem.encode())


def _window_end(doc: dict[str, Any]) -> int:
    return int(doc["opening_ms"]) + int(doc.get("decryption_window_s", 1800)) * 1000


def _set_tender_state(tx: Transaction, tid: str, state: str) -> None:
    cur = tx.tender_get(tid)
    assert cur is not None
    d = orjson.loads(cur.doc)
    d["state"] = state
    tx.tender_put(TenderRow(cur.id, cur.agency_org, state, cur.deadline_ms, cur.sealed, orjson.dumps(d)))


def _blame(path: Path, sm3_hex: str, otherwise: str) -> str:
    """A failure on a stored envelope is the platform's if the file no longer hashes to what was signed."""
    try:
        return "digest-mismatch" if sm3_file(path).hex() != sm3_hex else otherwise
    except OSError:
        return "platform-fault"


def _cause_of(exc: Exception, via: str) -> tuple[str, str]:
    if isinstance(exc, InvalidPadding):
        if via in ("bidder-key", "backup"):
            return "wrong-key", "the released content key does not decrypt the envelope (bad padding)"
        return "malformed-ciphertext", "the ciphertext does not decrypt (bad PKCS#7 padding)"
    if isinstance(exc, DecryptionError):
        return "digest-mismatch", "the stored envelope does not hash to the SM3 the bidder signed"
    if isinstance(exc, OSError):
        return "platform-fault", f"I/O error while decrypting ({exc.strerror or type(exc).__name__})"
    if isinstance(exc, ValueError):
        return "malformed-ciphertext", "the ciphertext length is inconsistent with the envelope"
    return "platform-fault", type(exc).__name__


def _due(bid_id: str, envelope: str, reason: str, detail: str, now: int) -> dict[str, Any]:
    """A ``remedy-due`` entry: the envelope the threshold remedy is to open, and why the bidder's did not."""
    return {"bid_id": bid_id, "envelope": envelope, "reason": reason, "detail": detail, "time_ms": now}


def _table(bids: list[BidRow], items: dict[str, Any]) -> list[dict[str, Any]]:
    """The 唱标 table: one row per live bid, in order of receipt."""
    rows = []
    for b in bids:
        names = [e["name"] for e in orjson.loads(b.manifest)]
        states = [items.get(f"{b.id}/{n}", {}).get("status", "pending") for n in names]
        status = "failed" if "failed" in states else ("opened" if all(s == "done" for s in states) else "pending")
        vias = sorted({items[f"{b.id}/{n}"]["via"] for n, s in zip(names, states, strict=True) if s == "done"})
        rows.append({
            "bid_id": b.id, "bidder": b.bidder_fp, "bidder_org": b.bidder_org, "received_ms": b.received_ms,
            "log_index": b.log_index, "status": status, "opened_via": vias, "summary": None, "fields": None,
        })  # fmt: skip
    return rows


def fill_summaries(table: list[dict[str, Any]], items: dict[str, Any]) -> None:
    """Put the decrypted 唱标 summaries into the table rows (text, and fields when it is JSON)."""
    for row in table:
        item = items.get(f"{row['bid_id']}/{SUMMARY}", {})
        if "text" not in item:
            continue
        raw = base64.b64decode(item["text"])
        try:
            row["summary"] = raw.decode()
        except UnicodeDecodeError:
            row["summary"] = base64.b64encode(raw).decode()
            continue
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError:
            fields = None
        row["fields"] = fields if isinstance(fields, dict) else None


def read_plaintext(platform: Platform, tender_id: str, bid_id: str, envelope: str) -> bytes:
    """A decrypted envelope, for entitled callers (the plugin capability layer, the HTTP API).

    Raises ``KernelError("too-early")`` unless trusted time has reached the opening time AND the tender's
    opening has finished with the state ``opened``; ``not-found`` if that envelope did not open.
    """
    svc = OpeningService(platform)
    doc = svc._doc(tender_id)
    svc.require_opening_time(doc)
    st = svc.state(doc["id"])
    if st is None or st["state"] != "opened":
        raise KernelError("too-early", "the tender is not opened")
    check_id(bid_id, "bid")
    with platform.store.reader() as r:
        raw = r.opening_entry_get(doc["id"], ITEM, f"{bid_id}/{envelope}")
    item = None if raw is None else orjson.loads(raw)
    if item is None or item["status"] != "done":
        raise KernelError("not-found", "no such opened envelope")
    if "text" in item:
        return base64.b64decode(item["text"])
    return (plaintext_dir(platform, doc["id"], bid_id) / envelope).read_bytes()


def _try_read_header(path: Path) -> EnvelopeHeader | Exception:
    try:
        return _read_header(path)
    except (OSError, CryptoError, ValueError, IndexError) as exc:
        return exc


def _read_header(path: Path) -> EnvelopeHeader:
    """The envelope header from the first 64 KiB (16 recipients fit in ~6 KiB); the general reader (1 MiB)
    only if that is not enough — so a cold 10 MiB file costs one small read here, not a tenth of it."""
    with open(path, "rb") as f:
        head = f.read(64 << 10)
        size = os.fstat(f.fileno()).st_size
    try:
        h = parse_header(head)
    except (CryptoError, ValueError, IndexError):
        return read_header_from_file(path)
    if h.total_length != size:
        raise EnvelopeFormatError(f"envelope size {size} is not its DER length {h.total_length}")
    return h
