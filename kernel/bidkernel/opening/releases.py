"""What the parties bring to the opening: custodians' shares, bidders' own content keys, backups (the
Art. 31 remedy), and the bidders' confirmations of and objections to the 唱标 table. Each is checked
before it is stored, refused ``too-early`` before the opening time (trusted clock), and logged in the
ledger (``opening.*`` events) so the record shows who released what, when.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson

from bidkernel import providers
from bidkernel.authn import Principal
from bidkernel.crypto import sm4
from bidkernel.crypto.envelope import EnvelopeFormatError, NotARecipient, parse_header, read_header_from_file
from bidkernel.crypto.errors import CryptoError
from bidkernel.crypto.x509 import Certificate
from bidkernel.custody import tender_keys
from bidkernel.ledger.events import Event
from bidkernel.opening import keycheck
from bidkernel.opening.service import (
    BACKUP,
    BIDKEY,
    CONFIRM,
    FINAL,
    ITEM,
    OBJECTION,
    REFUSED,
    OpeningService,
    _sealed_label,
    _window_end,
)
from bidkernel.platform import utc_ms
from bidkernel.problems import KernelError
from bidkernel.store.base import BidRow, DuplicateError, Transaction
from bidkernel.tenders import check_id


class Releases:
    """Inputs to a running opening over an :class:`OpeningService`."""

    def __init__(self, openings: OpeningService) -> None:
        self.o = openings
        self.p = openings.p

    # ------------------------------------------------------------------------------ custodians
    def release_share(self, who: Principal, tender_id: str, req: Any) -> dict[str, Any]:
        """A custodian's share (k of N). Checked with Feldman's equation; a bad one is logged naming
        its custodian (``opening.share_rejected``) and refused ``bad-share``."""
        doc = self.o._doc(tender_id)
        tid = doc["id"]
        if doc["custody"] != "threshold" and doc.get("remedy") != "threshold":
            raise KernelError("opening-state", "this tender has no threshold custody (nor the threshold remedy)")
        self.o.require_opening_time(doc)
        with self.p.store.reader() as r:
            setup = tender_keys.setup_of(r, tid)
            st_raw = r.opening_get(tid)
        index = tender_keys.custodian_index(setup, who.fp)
        if index is None:
            raise KernelError("forbidden", "only the tender's custodians release shares")
        if st_raw is not None and orjson.loads(st_raw)["state"] in FINAL:
            raise KernelError("opening-state", "the opening has finished")
        share_hex = req.get("share") if isinstance(req, dict) else None
        if not isinstance(share_hex, str) or len(share_hex) != 64:
            raise KernelError("bad-request", "send {share: 64 hex digits}")
        try:
            share = int(share_hex, 16)
        except ValueError:
            raise KernelError("bad-request", "share: 64 hex digits") from None
        name = next(c["name"] for c in setup["custodians"] if c["index"] == index)
        now = self.p.now_ms()
        data = {"tender_id": tid, "index": index, "custodian": who.fp, "name": name}
        if not tender_keys.check_share(setup, index, share):
            self.p.log.append(Event("opening.share_rejected", now, {**data, "reason": "feldman-check-failed"}))
            raise KernelError("bad-share", f"the share of custodian {index} ({name}) fails Feldman's check; "
                                           "the refusal is logged")  # fmt: skip
        sealed = tender_keys.seal_share(self.p, tid, index, share)
        share = 0

        def within(tx: Transaction, log_index: int) -> None:
            try:
                tx.opening_entry_put(tid, tender_keys.SHARES, f"{index:03d}", sealed, replace=False)
            except DuplicateError:
                raise _Duplicate() from None
            log = orjson.dumps({**data, "time_ms": now, "log_index": log_index})
            tx.opening_entry_put(tid, "share-log", f"{index:03d}", log)

        try:
            self.p.log.append(Event("opening.share_released", now, data), within=within)
        except _Duplicate:
            pass
        with self.p.store.reader() as r:
            count = len(r.opening_entries(tid, tender_keys.SHARES))
        return {"tender_id": tid, "index": index, "custodian": name, "released": count, "k": setup["k"]}

    # ------------------------------------------------------------------------------ bidders
    def _own_bid(self, who: Principal, bid_id: str) -> tuple[BidRow, dict[str, Any]]:
        check_id(bid_id, "bid")
        with self.p.store.reader() as r:
            bid = r.bid_get(bid_id)
        if bid is None or who.role != "bidder" or bid.bidder_fp != who.fp:
            raise KernelError("not-found", "no such bid")
        doc = self.o._doc(bid.tender_id)
        return bid, doc

    def _in_window(self, doc: dict[str, Any], bid: BidRow) -> None:
        self.o.require_opening_time(doc)
        st = self.o.state(doc["id"])
        if st is not None and st["state"] in FINAL:
            raise KernelError("opening-state", "the opening has finished")
        if not self.p.clock.is_before(_window_end(doc) / 1000):
            raise KernelError("window-closed", f"the decryption window closed at {utc_ms(_window_end(doc))}")
        with self.p.store.reader() as r:
            closing = r.closing_get(doc["id"])
        if closing is None or bid.id not in orjson.loads(closing)["live_bids"]:
            raise KernelError("bid-not-live", "the bid is not among the sealed live bids")

    def release_bid_keys(self, who: Principal, bid_id: str, req: Any) -> dict[str, Any]:
        """Bidder custody: the bidder's unwrapped content keys ``{keys: {envelope: base64}, proofs?:
        {envelope: base64 SM2 point}}``. Each key is checked against the envelope before it is kept
        (sealed; :mod:`bidkernel.opening.keycheck`): its proof and the key check value the bidder signed,
        whichever are there, must hold; with neither, the padding of the last CBC block (the weaker check,
        recorded as such). A key that fails is refused and the refusal logged (``opening.key_refused``):
        it is the evidence when the remedy later opens the envelope."""
        bid, doc = self._own_bid(who, bid_id)
        if doc["custody"] != "bidder":
            raise KernelError("opening-state", "this tender's keys are not the bidders' own")
        self._in_window(doc, bid)
        keys = req.get("keys") if isinstance(req, dict) else None
        proofs = req.get("proofs", {}) if isinstance(req, dict) else None
        envs = {e["name"]: e for e in orjson.loads(bid.manifest)}
        if not isinstance(keys, dict) or not keys or not set(keys) <= set(envs):
            raise KernelError("bad-request", "send {keys: {envelope name: base64 SM4 key}} for your bid's envelopes")
        if not isinstance(proofs, dict) or not set(proofs) <= set(keys):
            raise KernelError("bad-request", "proofs: {envelope name: base64 SM2 point}, for released keys only")
        prov = tender_keys.provider(self.p)
        rows: dict[str, bytes] = {}
        checks: dict[str, str] = {}
        for name, b64 in keys.items():
            try:
                ck = base64.b64decode(str(b64), validate=True)
                point = base64.b64decode(str(proofs[name]), validate=True) if name in proofs else None
            except ValueError:
                raise KernelError("bad-request", f"{name}: the key or its proof is not base64") from None
            if len(ck) != sm4.KEY_SIZE:
                raise KernelError("bad-key-release", f"{name}: an SM4 key is 16 bytes")
            ok, check = keycheck.check_key(providers.local_path(self.p, envs[name]["sm3"]), envs[name], ck, point)
            if not ok:
                self._refused(doc["id"], bid, who, name, check)
                why = "the key and its proof do not open the wrapped key" if check == keycheck.SM2_POINT else (
                    "the key does not decrypt the envelope")  # fmt: skip
                raise KernelError("bad-key-release", f"{name}: {why} ({check} check; the refusal is logged)")
            k = f"{bid.id}/{name}"
            sealed = prov.seal(_sealed_label(doc["id"], f"bidkey/{k}"), ck)
            checks[name] = check
            rows[k] = orjson.dumps({"sealed": base64.b64encode(sealed).decode(), "time_ms": self.p.now_ms(),
                                    "check": check})  # fmt: skip
        now = self.p.now_ms()
        data = {"tender_id": doc["id"], "bid_id": bid.id, "bidder": who.fp, "envelopes": sorted(keys),
                "checks": dict(sorted(checks.items()))}  # fmt: skip

        def within(tx: Transaction, _index: int) -> None:
            for k, v in rows.items():
                tx.opening_entry_put(doc["id"], BIDKEY, k, v)

        self.p.log.append(Event("opening.key_released", now, data), within=within)
        return {"bid_id": bid.id, "accepted": sorted(keys), "checks": data["checks"], "time_ms": now}

    def _refused(self, tid: str, bid: BidRow, who: Principal, name: str, check: str) -> None:
        """Log a refused key release (which check it failed) for the opening record."""
        now = self.p.now_ms()
        data = {"tender_id": tid, "bid_id": bid.id, "bidder": who.fp, "envelope": name, "failed_check": check}

        def within(tx: Transaction, index: int) -> None:
            key = f"{bid.id}/{name}/{now:015d}-{secrets.token_hex(4)}"
            tx.opening_entry_put(tid, REFUSED, key, orjson.dumps({**data, "time_ms": now, "log_index": index}))

        self.p.log.append(Event("opening.key_refused", now, data), within=within)

    def upload_backup(self, who: Principal, bid_id: str, req: Any) -> dict[str, Any]:
        """The remedy channel: ``{envelopes: {name: base64 backup header}}``, each the header of the same
        envelope sealed to the tender's remedy certificate under the same key and IV. The kernel checks
        that it describes exactly the stored ciphertext (same IV, same length) and is sealed to the remedy
        certificate; the ciphertext opened later is the bid's own, so a backup cannot change the bid."""
        bid, doc = self._own_bid(who, bid_id)
        if doc.get("remedy") != "backup" or "remedy_certificate" not in doc:
            raise KernelError("opening-state", "this tender has no backup remedy")
        self._in_window(doc, bid)
        remedy = Certificate.from_pem(doc["remedy_certificate"].encode())
        heads = req.get("envelopes") if isinstance(req, dict) else None
        envs = {e["name"]: e for e in orjson.loads(bid.manifest)}
        if not isinstance(heads, dict) or not heads or not set(heads) <= set(envs):
            raise KernelError("bad-request", "send {envelopes: {envelope name: base64 backup header}}")
        rows: dict[str, bytes] = {}
        for name, b64 in heads.items():
            try:
                raw = base64.b64decode(str(b64), validate=True)
                bh = parse_header(raw)
                bh.slot_for(remedy)
                orig = read_header_from_file(providers.local_path(self.p, envs[name]["sm3"]))
            except NotARecipient:
                raise KernelError("bad-key-release", f"{name}: not sealed to the remedy certificate") from None
            except (ValueError, EnvelopeFormatError, CryptoError, IndexError):
                raise KernelError("bad-key-release", f"{name}: not a GM/T 0010 envelope header") from None
            if bh.iv != orig.iv or bh.ciphertext_length != orig.ciphertext_length or len(raw) != bh.ciphertext_offset:
                raise KernelError("bad-key-release", f"{name}: the backup does not describe the sealed ciphertext")
            rows[f"{bid.id}/{name}"] = orjson.dumps({"header": b64, "time_ms": self.p.now_ms()})
        now = self.p.now_ms()
        data = {"tender_id": doc["id"], "bid_id": bid.id, "bidder": who.fp, "envelopes": sorted(heads)}

        def within(tx: Transaction, _index: int) -> None:
            for k, v in rows.items():
                tx.opening_entry_put(doc["id"], BACKUP, k, v)

        self.p.log.append(Event("opening.backup_received", now, data), within=within)
        return {"bid_id": bid.id, "accepted": sorted(heads), "time_ms": now}

    # ------------------------------------------------------------------------------ the table
    def respond(self, who: Principal, tender_id: str, req: Any, *, objection: bool) -> dict[str, Any]:
        """A bidder confirms its row of the 唱标 table, or objects (to any row) with a text."""
        doc = self.o._doc(tender_id)
        tid = doc["id"]
        if who.role != "bidder":
            raise KernelError("forbidden", "bidders confirm or object")
        st = self.o.state(tid)
        if st is None:
            raise KernelError("opening-state", "the opening has not started")
        bid_id = req.get("bid_id") if isinstance(req, dict) else None
        if not isinstance(bid_id, str):
            raise KernelError("bad-request", "send {bid_id" + (", text}" if objection else "}"))
        with self.p.store.reader() as r:
            bid = r.bid_get(check_id(bid_id, "bid"))
            mine = [b.id for b in r.bids_of_tender(tid, bidder_fp=who.fp) if b.id in st["live_bids"]]
        if not mine:
            raise KernelError("forbidden", "only bidders of this tender respond to its table")
        if bid is None or bid.tender_id != tid:
            raise KernelError("not-found", "no such bid in this tender")
        now = self.p.now_ms()
        if objection:
            text = req.get("text")
            if not isinstance(text, str) or not 0 < len(text) <= 4000:
                raise KernelError("bad-request", "text: 1-4000 characters")
            data = {"tender_id": tid, "bid_id": bid.id, "by": who.fp, "by_org": who.org, "text": text}
            kind, key, entry = "opening.objection", f"{now:015d}-{secrets.token_hex(4)}", OBJECTION
        else:
            if bid.bidder_fp != who.fp:
                raise KernelError("forbidden", "a bidder confirms its own row")
            with self.p.store.reader() as r:
                item = r.opening_entry_get(tid, ITEM, f"{bid.id}/summary")
            if item is None or orjson.loads(item)["status"] != "done":
                raise KernelError("opening-state", "this bid's 唱标 row is not read out yet")
            data = {"tender_id": tid, "bid_id": bid.id, "by": who.fp}
            kind, key, entry = "opening.confirmed", bid.id, CONFIRM

        def within(tx: Transaction, index: int) -> None:
            tx.opening_entry_put(tid, entry, key, orjson.dumps({**data, "time_ms": now, "log_index": index}))

        index = self.p.log.append(Event(kind, now, data), within=within)
        return {**data, "time_ms": now, "log_index": index}


class _Duplicate(Exception):
    pass
