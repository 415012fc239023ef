"""Tenders: lifecycle, lots (标段), amendments (更正), the opening-key set, and the closing seal.

Lifecycle: ``draft`` -> (publish) ``open`` -> (deadline, by the trusted clock) ``closed`` -> ``opening`` ->
``opened`` | ``failed`` (the last three are set by the opening recipe). ``open``/``closed`` are not stored:
a published tender is open while the trusted clock is before its deadline (DOMAIN: nothing after the
deadline; 电子招标投标办法 Art. 25 as summarised there). The opening certificates (recipients every envelope
must be sealed to) and the custody model are fixed at publication and never change.

Amendments (更正, 政府采购信息发布管理办法, 财政部令第101号; ../shared/DOMAIN.md "Portal publishing": a
change that affects bid preparation needs at least 15 days before the deadline, or a postponed
deadline) may only postpone the deadline, while the tender is open; each is a ledger event. An
amendment marked ``affects_bids`` (the default) whose deadline would lie less than
``Limits.amendment_notice_s`` (15 days) after it is refused (``amendment-too-late``, naming the
earliest deadline that satisfies the rule): the agency must move the deadline, the kernel never
moves it on its own. Bids received before an amendment stay valid and are flagged
``before_amendment`` so the bidder can resubmit; nothing is invalidated silently.

Lots (标段): a tender has 1-200 lots with unique ids; each bid names one (docs/protocol.md).

At the deadline the tender is sealed: a ``deadline.sealed`` ledger event lists the live bids, a signed
checkpoint covers it and the kernel's TSA timestamps that checkpoint (the closing record).
"""

from __future__ import annotations

import base64
import datetime as _dt
import logging
import re
import secrets
from typing import Any

import orjson

from bidkernel import providers
from bidkernel.authn import Principal
from bidkernel.crypto.sm3 import sm3
from bidkernel.crypto.x509 import Certificate
from bidkernel.ledger.events import Event, canonical_json
from bidkernel.platform import Platform, utc_ms
from bidkernel.problems import KernelError
from bidkernel.store.base import TenderRow, Transaction

log = logging.getLogger("bidkernel.tenders")
CUSTODY = ("platform", "bidder", "threshold")
# the Art. 31 remedy (补救方案) a bidder-custody tender fixes at creation: a backup opened with a key the
# platform holds, or the custodians' k-of-n threshold key (each envelope is also sealed to it)
REMEDIES = ("none", "backup", "threshold")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise KernelError("not-found", f"no such {what}")
    return value


def _parse_time(v: Any, what: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            t = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise KernelError("bad-request", f"{what} is not an RFC 3339 time") from None
        if t.tzinfo is None:
            raise KernelError("bad-request", f"{what} needs a time zone")
        return int(t.timestamp() * 1000)
    raise KernelError("bad-request", f"{what} must be RFC 3339 text or Unix milliseconds")


def load_doc(row: TenderRow) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(row.doc)
    return doc


def effective_state(doc: dict[str, Any], now_ms: int) -> str:
    if doc["state"] != "published":
        return str(doc["state"])
    return "open" if now_ms < doc["deadline_ms"] else "closed"


def opening_certificates(doc: dict[str, Any]) -> list[Certificate]:
    return [Certificate.from_pem(p.encode()) for p in doc["opening_certificates"]]


class TenderService:
    """Tender recipes over a :class:`Platform`."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # --- reads --------------------------------------------------------------------------------
    def get(self, tender_id: str) -> dict[str, Any]:
        check_id(tender_id, "tender")
        with self.p.store.reader() as r:
            row = r.tender_get(tender_id)
        if row is None:
            raise KernelError("not-found", "no such tender")
        return load_doc(row)

    def visible(self, doc: dict[str, Any], who: Principal | None) -> bool:
        if doc["state"] != "draft":
            return True
        return who is not None and (who.role == "supervisor" or (who.role == "agency" and who.org == doc["agency_org"]))

    def public_view(self, doc: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """What anyone may read: never bidder names, and no bid count before the deadline."""
        out = {
            k: doc[k]
            for k in (
                "id",
                "title",
                "lots",
                "agency_org",
                "deadline_ms",
                "opening_ms",
                "custody",
                "opening_certificates",
                "amendments",
            )
        }
        for k in ("quorum", "decryption_window_s", "remedy", "remedy_certificate", "threshold", "attribution"):
            if k in doc:
                out[k] = doc[k]
        out["state"] = effective_state(doc, now_ms)
        out["deadline"] = utc_ms(doc["deadline_ms"])
        return out

    def list_visible(self, who: Principal | None) -> list[dict[str, Any]]:
        now = self.p.now_ms()
        with self.p.store.reader() as r:
            rows = r.tenders_list()
        return [self.public_view(d, now) for d in map(load_doc, rows) if self.visible(d, who)]

    # --- writes -------------------------------------------------------------------------------
    def create(self, who: Principal, req: Any) -> dict[str, Any]:
        if who.role != "agency":
            raise KernelError("forbidden", "only an agency creates tenders")
        if not isinstance(req, dict):
            raise KernelError("bad-request", "send a JSON object")
        title = req.get("title")
        if not isinstance(title, str) or not 0 < len(title) <= 500:
            raise KernelError("bad-request", "title: 1-500 characters")
        lots = req.get("lots") or [{"id": "1", "name": title}]
        if (
            not isinstance(lots, list)
            or not 1 <= len(lots) <= 200
            or not all(
                isinstance(x, dict)
                and isinstance(x.get("id"), str)
                and _LOT_ID.match(x["id"])
                and isinstance(x.get("name"), str)
                for x in lots
            )
        ):
            raise KernelError("bad-request", "lots: 1-200 of {id: 1-32 of A-Z a-z 0-9 _ . - , name}")
        if len({x["id"] for x in lots}) != len(lots):
            raise KernelError("bad-request", "lot ids must be unique")
        deadline = _parse_time(req.get("deadline"), "deadline")
        opening = _parse_time(req.get("opening", deadline), "opening")
        if opening < deadline:
            raise KernelError("bad-request", "the opening cannot precede the deadline")
        custody = req.get("custody", "platform")
        if custody not in CUSTODY:
            raise KernelError("bad-request", f"custody: one of {', '.join(CUSTODY)}")
        certs_pem = req.get("opening_certificates", [])
        if not isinstance(certs_pem, list) or not len(certs_pem) <= 16:
            raise KernelError("bad-request", "opening_certificates: 0-16 PEM certificates")
        if not certs_pem and custody == "bidder" and req.get("remedy") != "threshold":
            # (with the threshold remedy the kernel adds the threshold opening certificate at publication)
            raise KernelError("bad-request", "bidder custody needs the agency's opening certificates")
        try:
            certs = [Certificate.from_pem(str(p).encode()) for p in certs_pem]
        except Exception:
            raise KernelError("bad-request", "an opening certificate is not a PEM SM2 certificate") from None
        opening_rules = _opening_rules(req, custody)
        now = self.p.now_ms()
        if deadline <= now:
            raise KernelError("bad-request", "the deadline must lie in the future (trusted time)")
        doc = {
            "id": new_id("t"),
            "title": title,
            "lots": [{"id": x["id"], "name": x["name"]} for x in lots],
            "agency_org": who.org,
            "agency": who.fp,
            "deadline_ms": deadline,
            "opening_ms": opening,
            "custody": custody,
            "opening_certificates": [c.to_pem().decode() for c in certs],
            "state": "draft",
            "created_ms": now,
            "amendments": [],
            **opening_rules,
        }
        with self.p.store.transaction() as tx:
            tx.nonce_record(who.nonce, now)
            tx.tender_put(_row(doc))
        return doc

    def _owned(self, who: Principal, tender_id: str) -> dict[str, Any]:
        doc = self.get(tender_id)
        if who.role != "agency" or who.org != doc["agency_org"]:
            if self.visible(doc, who):
                raise KernelError("forbidden", "only the tender's agency may change it")
            raise KernelError("not-found", "no such tender")
        return doc

    def publish(self, who: Principal, tender_id: str) -> dict[str, Any]:
        doc = self._owned(who, tender_id)
        if doc["state"] != "draft":
            raise KernelError("tender-state", "only a draft is published")
        now = self.p.now_ms()
        if doc["deadline_ms"] <= now:
            raise KernelError("tender-state", "the deadline has already passed")
        from bidkernel.custody.tender_keys import setup_at_publication

        doc["state"] = "published"
        doc["published_ms"] = now
        setup = setup_at_publication(self.p, doc)  # the kernel's keys, if the custody model needs them
        fps = [c.fingerprint.hex() for c in opening_certificates(doc)]
        event = Event(
            "tender.published",
            now,
            {
                "tender_id": doc["id"],
                "deadline_ms": doc["deadline_ms"],
                "custody": doc["custody"],
                "opening_certificates": fps,
                "doc_sm3": sm3(canonical_json(doc)).hex(),
                "custody_setup": setup.public,
            },
        )

        def within(tx: Transaction, index: int) -> None:
            row = tx.tender_get(doc["id"])
            if row is None or load_doc(row)["state"] != "draft":
                raise KernelError("tender-state", "only a draft is published")
            tx.nonce_record(who.nonce, now)
            doc["publish_index"] = index
            tx.tender_put(_row(doc))
            # the announcement plugins publish (公告): public fields only
            notice = {k: doc[k] for k in ("title", "lots", "agency_org", "deadline_ms", "opening_ms", "custody")}
            notice.update(tender_id=doc["id"], published_ms=now, log_index=index)
            tx.outbox_add("tender.published", f"tender.published/{doc['id']}", orjson.dumps(notice), now)
            setup.write(tx, doc["id"])

        self.p.log.append(event, within=within)
        return doc

    def amend(self, who: Principal, tender_id: str, req: Any) -> dict[str, Any]:
        doc = self._owned(who, tender_id)
        now = self.p.now_ms()
        if effective_state(doc, now) != "open":
            raise KernelError("tender-state", "amendments are made while the tender is open")
        if not isinstance(req, dict) or not isinstance(req.get("note"), str):
            raise KernelError("bad-request", "send {note, deadline?, affects_bids?}")
        affects = req.get("affects_bids", True)
        if not isinstance(affects, bool):
            raise KernelError("bad-request", "affects_bids: true or false")
        before = doc["deadline_ms"]
        after = _parse_time(req["deadline"], "deadline") if "deadline" in req else before
        if after < before:
            raise KernelError("bad-request", "an amendment may postpone the deadline, never bring it forward")
        notice_ms = int(self.p.limits.amendment_notice_s * 1000)
        if affects and after - now < notice_ms:
            earliest = now + notice_ms
            raise KernelError(
                "amendment-too-late",
                f"a change that affects bid preparation needs {self.p.limits.amendment_notice_s / 86400:g} days "
                f"before the deadline: postpone the deadline to {utc_ms(earliest)} or later",
                earliest_deadline=utc_ms(earliest),
                earliest_deadline_ms=earliest,
            )
        seq = len(doc["amendments"]) + 1
        event = Event(
            "tender.amended",
            now,
            {"tender_id": doc["id"], "seq": seq, "deadline_ms_before": before, "deadline_ms_after": after,
             "affects_bids": affects, "note_sm3": sm3(req["note"].encode()).hex()},
        )  # fmt: skip

        def within(tx: Transaction, index: int) -> None:
            row = tx.tender_get(doc["id"])
            if row is None or row.sealed or len(load_doc(row)["amendments"]) != seq - 1:
                raise KernelError("tender-state", "the tender changed meanwhile; retry")
            tx.nonce_record(who.nonce, now)
            doc["amendments"].append(
                {"seq": seq, "time_ms": now, "note": req["note"], "deadline_ms_before": before,
                 "deadline_ms_after": after, "affects_bids": affects, "log_index": index}
            )  # fmt: skip
            doc["deadline_ms"] = after
            opening = max(doc["opening_ms"], after) if doc["opening_ms"] != before else after
            doc["opening_ms"] = opening
            tx.tender_put(_row(doc))
            notice = {"tender_id": doc["id"], "seq": seq, "note": req["note"], "deadline_ms_before": before,
                      "deadline_ms_after": after, "opening_ms": opening, "log_index": index}  # fmt: skip
            tx.outbox_add("tender.amended", f"tender.amended/{doc['id']}/{seq}", orjson.dumps(notice), now)

        self.p.log.append(event, within=within)
        return doc

    # --- closing ------------------------------------------------------------------------------
    def seal_due(self) -> list[str]:
        """Seal every published tender whose deadline the trusted clock has reached (idempotent)."""
        sealed = []
        with self.p.store.reader() as r:
            rows = [t for t in r.tenders_list() if t.state == "published"]
            # sealed, but the closing record is missing: its time stamp failed (a provider); finish it now
            rows = [t for t in rows if not t.sealed or r.closing_get(t.id) is None]
        for row in rows:
            if self.p.clock.has_reached(row.deadline_ms / 1000):
                try:
                    self.seal(row.id)
                except KernelError as exc:  # a provider failed: the others still seal; this one next time
                    log.warning("closing record of %s: %s", row.id, exc.kind)
                    continue
                sealed.append(row.id)
        return sealed

    def seal(self, tender_id: str) -> dict[str, Any]:
        """The closing record: ``deadline.sealed`` leaf listing the live bids, a signed checkpoint
        covering it, and an RFC 3161 token over that checkpoint's note."""
        with self.p.lock:
            with self.p.store.reader() as r:
                row = r.tender_get(tender_id)
                if row is None:
                    raise KernelError("not-found", "no such tender")
                if row.sealed:
                    closing = r.closing_get(tender_id)
                    if closing is not None:
                        return dict(orjson.loads(closing))
            if row.sealed:  # sealed in the ledger, but stamping its checkpoint failed: stamp it now
                index, sealed_event = self._sealed_event(tender_id)
                d = sealed_event.data
                return self._closing(tender_id, row.deadline_ms, sealed_event.time_ms, index, list(d["live_bids"]),
                                     dict(d["lots"]))  # fmt: skip
            lot_ids = [str(x["id"]) for x in load_doc(row)["lots"]]
            for _ in range(20):
                with self.p.store.reader() as r:
                    live_rows = [b for b in r.bids_of_tender(tender_id) if b.status == "live"]
                live = sorted(b.id for b in live_rows)
                by_lot = {lot: sorted(b.id for b in live_rows if b.lot == lot) for lot in lot_ids}
                now = self.p.now_ms()
                event = Event(
                    "deadline.sealed",
                    now,
                    {"tender_id": tender_id, "deadline_ms": row.deadline_ms, "live_bids": live, "count": len(live),
                     "lots": by_lot},
                )  # fmt: skip

                def within(tx: Transaction, index: int, live: list[str] = live) -> None:
                    cur = tx.tender_get(tender_id)
                    assert cur is not None
                    now_live = sorted(b.id for b in tx.bids_of_tender(tender_id) if b.status == "live")
                    if now_live != live:
                        raise _Retry()
                    tx.tender_put(TenderRow(cur.id, cur.agency_org, cur.state, cur.deadline_ms, True, cur.doc))

                try:
                    index = self.p.log.append(event, within=within)
                    break
                except _Retry:
                    continue
            else:  # pragma: no cover - bids cannot keep arriving after the deadline
                raise KernelError("internal", "could not seal the tender")
            return self._closing(tender_id, row.deadline_ms, now, index, live, by_lot)

    def _closing(self, tender_id: str, deadline_ms: int, now: int, index: int, live: list[str],
                 by_lot: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """Stamp the checkpoint covering the sealing leaf and store the closing record. If the timestamp
        provider fails, the tender stays sealed (bids are refused from the deadline on, whatever the TSA
        does) and :meth:`seal_due` retries until the record exists; no record exists without its token."""
        cp = self.p.log.checkpoint_covering(index)
        token = providers.stamp(self.p, cp.note.encode())
        record: dict[str, Any] = {
            "tender_id": tender_id,
            "deadline_ms": deadline_ms,
            "sealed_ms": now,
            "log_index": index,
            "count": len(live),
            "live_bids": live,
            "lots": by_lot,
            "checkpoint": cp.note,
            "timestamp_token": base64.b64encode(token).decode(),
        }
        with self.p.store.transaction() as tx:
            tx.closing_put(tender_id, orjson.dumps(record))
            tx.outbox_add("deadline.sealed", f"deadline.sealed/{tender_id}", orjson.dumps(record), now)
        return record

    def _sealed_event(self, tender_id: str) -> tuple[int, Event]:
        from bidkernel.ledger.events import decode_leaf

        found: tuple[int, Event] | None = None
        for i, leaf in self.p.log.iter_leaves():  # only on the recovery path: a rare, full scan
            ev = decode_leaf(leaf)
            if ev.kind == "deadline.sealed" and ev.data.get("tender_id") == tender_id:
                found = (i, ev)
        if found is None:
            raise KernelError("internal", "the tender is sealed but its sealing leaf is missing")
        return found

    def closing(self, tender_id: str) -> dict[str, Any] | None:
        with self.p.store.reader() as r:
            c = r.closing_get(tender_id)
        return None if c is None else dict(orjson.loads(c))


class _Retry(Exception):
    pass


def _opening_rules(req: dict[str, Any], custody: str) -> dict[str, Any]:
    """The opening's rules, fixed with the tender: quorum (fewer valid bids -> failed; DOMAIN: 3), the
    bidders' decryption window, the remedy (Art. 31 补救方案) and, for threshold custody, k of N."""
    quorum = req.get("quorum", 3)
    window = req.get("decryption_window_s", 1800)
    remedy = req.get("remedy", "backup" if custody == "bidder" else "none")
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 1 <= quorum <= 1000:
        raise KernelError("bad-request", "quorum: an integer 1-1000")
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 7 * 86400:
        raise KernelError("bad-request", "decryption_window_s: an integer 1-604800")
    if remedy not in REMEDIES or (remedy != "none" and custody != "bidder"):
        raise KernelError("bad-request", "remedy: 'backup' or 'threshold' (bidder custody), or 'none'")
    out: dict[str, Any] = {"quorum": quorum, "decryption_window_s": window, "remedy": remedy}
    attribution = req.get("attribution", {})
    from bidkernel.opening.evidence import ATTRIBUTIONS, CAUSES

    if not isinstance(attribution, dict) or not all(k in CAUSES and v in ATTRIBUTIONS for k, v in attribution.items()):
        raise KernelError("bad-request", "attribution: {cause: 'bidder' | 'not-bidder'} for known causes")
    if attribution:
        out["attribution"] = attribution
    if custody == "threshold" or remedy == "threshold":
        th = req.get("threshold")
        if not isinstance(th, dict) or not isinstance(th.get("custodians"), list):
            raise KernelError("bad-request", "threshold: {k, custodians: [{name, certificate}]}")
        cs = th["custodians"]
        k = th.get("k")
        if not 2 <= len(cs) <= 16 or not isinstance(k, int) or isinstance(k, bool) or not 2 <= k <= len(cs):
            raise KernelError("bad-request", "threshold: 2 <= k <= N <= 16 custodians")
        seen = set()
        custodians = []
        for c in cs:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not 0 < len(c["name"]) <= 200:
                raise KernelError("bad-request", "each custodian has a name and a PEM certificate")
            try:
                cert = Certificate.from_pem(str(c.get("certificate", "")).encode())
            except Exception:
                raise KernelError("bad-request", f"custodian {c['name']!r}: not a PEM SM2 certificate") from None
            if cert.fingerprint in seen:
                raise KernelError("bad-request", "custodians must hold distinct certificates")
            seen.add(cert.fingerprint)
            custodians.append({"name": c["name"], "certificate": cert.to_pem().decode()})
        out["threshold"] = {"k": k, "custodians": custodians}
    return out


def _row(doc: dict[str, Any]) -> TenderRow:
    return TenderRow(doc["id"], doc["agency_org"], doc["state"], doc["deadline_ms"], False, orjson.dumps(doc))
