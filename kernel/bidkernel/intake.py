"""Intake: a sealed bid -> verified, stored durably, logged, receipted (../shared/DESIGN.md §3).

Rules implemented (../shared/DOMAIN.md; 电子招标投标办法 2013):

* the platform refuses an unencrypted bid with a clear prompt: every envelope must parse as a GM/T 0010
  EnvelopedData sealed (SM2 key transport) to every opening certificate fixed at publication;
* a bid must be completely transmitted before the deadline, judged by the kernel's trusted clock only
  (never the client's): checked when the request starts and again when the last byte has arrived, and
  the ledger commit refuses any bid once the tender is sealed;
* a bid is for one lot (标段) of the tender, named by the manifest's ``lot`` or the request's ``?lot=``
  (a single-lot tender needs neither); a bidder bidding for several lots sends one package per lot;
* before the deadline a bidder may replace (the latest complete submission counts, per bidder and lot;
  the previous one is marked ``replaced``), supplement (a new submission may carry an envelope of its
  previous one by digest without re-sending it) or withdraw; the history stays in the ledger;
* nothing is decrypted here: this module imports no decryption routine;
* the receipt (Art. 23) exists only after the blobs are fsynced under their content address and the bid
  row, its ledger leaf and its outbox event are committed in one transaction (the ledger's group commit).

Package framing (docs/protocol.md "Bid packages")::

    b"BKPKG1\\n" || uint32-be(len(manifest)) || manifest JSON || envelope bytes, in manifest order
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import hmac
import logging
import re
import struct
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bidkernel import providers
from bidkernel.authn import Principal
from bidkernel.crypto import oids
from bidkernel.crypto.envelope import EnvelopeFormatError, NotARecipient, parse_header, verify_digest
from bidkernel.crypto.errors import CryptoError
from bidkernel.crypto.sm3 import Sm3Hash
from bidkernel.crypto.x509 import Certificate
from bidkernel.ledger.errors import LedgerError
from bidkernel.ledger.events import Event
from bidkernel.platform import Platform, utc_ms
from bidkernel.problems import KernelError
from bidkernel.receipt import build_receipt, signed_message
from bidkernel.store.base import BidRow, DuplicateError, Transaction
from bidkernel.store.blobs import BlobTooLarge, BlobUpload
from bidkernel.store.group import GroupWriter
from bidkernel.tenders import TenderService, check_id, effective_state, load_doc, new_id, opening_certificates

T = TypeVar("T")
log = logging.getLogger("bidkernel.intake")
MAGIC = b"BKPKG1\n"
PACKAGE_FORMAT = "bidkernel/bid-package/v1"
SUMMARY = "summary"  # the 唱标 envelope: price, duration... decrypted first at the opening
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_HEADER_KEEP = 1 << 20


@dataclass(frozen=True)
class EnvelopeEntry:
    name: str
    sm3: str
    size: int
    signature: bytes
    carry: bool  # supplement: the same envelope as in the bidder's current bid, not re-sent


def resolve_lot(doc: dict[str, Any], in_manifest: object, in_request: str | None) -> str:
    """The lot a submission is for: the manifest's ``lot`` and/or the request's ``?lot=`` (they must
    agree), or the tender's only lot. Raises ``wrong-lot``."""
    lots = [str(x["id"]) for x in doc["lots"]]
    if in_manifest is not None and not isinstance(in_manifest, str):
        raise KernelError("malformed-package", "the manifest's lot must be a string")
    if in_manifest is not None and in_request is not None and in_manifest != in_request:
        raise KernelError("wrong-lot", f"the package is for lot {in_manifest!r}, the request names {in_request[:40]!r}")
    given = in_manifest if in_manifest is not None else in_request
    if given is None:
        if len(lots) == 1:
            return lots[0]
        raise KernelError("wrong-lot", f"this tender has lots {', '.join(lots)}: name one (manifest 'lot' or ?lot=)")
    if given not in lots:
        raise KernelError("wrong-lot", f"this tender has no lot {given[:40]!r} (its lots: {', '.join(lots)})")
    return given


def parse_manifest(raw: bytes, tender_id: str, max_envelopes: int, max_size: int) -> list[EnvelopeEntry]:
    return _parse_manifest(_manifest_object(raw, tender_id), max_envelopes, max_size)


def _manifest_object(raw: bytes, tender_id: str) -> dict[str, Any]:
    try:
        m = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KernelError("malformed-package", "the manifest is not JSON") from None
    if not isinstance(m, dict) or m.get("format") != PACKAGE_FORMAT:
        raise KernelError("malformed-package", f"the manifest format must be {PACKAGE_FORMAT}")
    if m.get("tender_id") != tender_id:
        raise KernelError("wrong-tender", "the package was sealed for another tender")
    return m


def _parse_manifest(m: dict[str, Any], max_envelopes: int, max_size: int) -> list[EnvelopeEntry]:
    envs = m.get("envelopes")
    if not isinstance(envs, list) or not envs:
        raise KernelError("malformed-package", "the manifest lists no envelopes")
    if len(envs) > max_envelopes:
        raise KernelError("too-many-envelopes", f"{len(envs)} envelopes; at most {max_envelopes}")
    out: list[EnvelopeEntry] = []
    for e in envs:
        if not isinstance(e, dict):
            raise KernelError("malformed-package", "an envelope entry is not an object")
        name, digest, size, sig = e.get("name"), e.get("sm3"), e.get("size"), e.get("signature")
        if not isinstance(name, str) or not _NAME.match(name):
            raise KernelError("malformed-package", "envelope names: 1-32 of a-z 0-9 _ -")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise KernelError("malformed-package", f"{name}: sm3 must be 64 lowercase hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise KernelError("malformed-package", f"{name}: size must be a positive integer")
        if size > max_size:
            raise KernelError("payload-too-large", f"{name}: {size} bytes; the limit is {max_size}")
        try:
            sig_b = base64.b64decode(str(sig), validate=True)
        except ValueError:
            raise KernelError("malformed-package", f"{name}: signature is not base64") from None
        out.append(EnvelopeEntry(name, digest, size, sig_b, bool(e.get("carry", False))))
    if len({e.name for e in out}) != len(out):
        raise KernelError("malformed-package", "envelope names must be unique")
    if SUMMARY not in {e.name for e in out}:
        raise KernelError("missing-summary", "a bid carries its 唱标 summary in an envelope named 'summary'")
    return out


class _Reader:
    """Exact reads over an async byte stream."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._it = stream.__aiter__()
        self._buf = b""
        self.total = 0

    async def _more(self) -> bool:
        chunk = b""
        while not chunk:  # Starlette ends a body with an empty chunk
            try:
                chunk = await self._it.__anext__()
            except StopAsyncIteration:
                return False
        self._buf += chunk
        self.total += len(chunk)
        return True

    async def exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._more():
                raise KernelError("truncated-upload", "the body ended early")
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    async def chunks(self, n: int) -> AsyncIterator[bytes]:
        left = n
        while left:
            if not self._buf and not await self._more():
                raise KernelError("truncated-upload", "the body ended inside an envelope")
            take = self._buf[:left]
            self._buf = self._buf[len(take) :]
            left -= len(take)
            yield take

    async def at_end(self) -> bool:
        return not self._buf and not await self._more()


def _check_envelope(up: BlobUpload, entry: EnvelopeEntry, certs: list[Certificate]) -> None:
    """The envelope is a complete GM/T 0010 EnvelopedData sealed to every opening certificate."""
    try:
        header = parse_header(bytes(up.head))
    except (EnvelopeFormatError, CryptoError, IndexError, ValueError) as exc:
        raise KernelError(
            "unencrypted-envelope",
            f"envelope {entry.name!r} is not a GM/T 0010 digital envelope ({exc}); "
            "seal it with `bidkernel bid seal` to the tender's opening certificates",
        ) from None
    if header.total_length != up.size:
        raise KernelError("unencrypted-envelope", f"envelope {entry.name!r}: its DER length is not its size")
    for c in certs:
        try:
            slot = header.slot_for(c)
        except NotARecipient:
            raise KernelError(
                "wrong-recipients", f"envelope {entry.name!r} is not sealed to opening certificate {c.subject!r}"
            ) from None
        if slot.key_encryption_algorithm != oids.SM2_ENCRYPT:
            raise KernelError("wrong-recipients", f"envelope {entry.name!r}: key transport is not SM2")


class IntakeService:
    """Submissions and withdrawals over a :class:`Platform`."""

    def __init__(self, platform: Platform, tenders: TenderService) -> None:
        self.p = platform
        self.tenders = tenders
        self._receipts: GroupWriter[tuple[str, str, bytes]] = GroupWriter(self._store_receipts)
        # blocking steps (fsync waits, receipt building) get their own threads: the event loop's default
        # executor has cpu_count + 4 of them, which would cap how many bids can share one group fsync/commit
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(512, platform.limits.max_in_flight),
                                                           thread_name_prefix="intake")  # fmt: skip

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    def _open_tender(self, tender_id: str, who: Principal) -> dict[str, Any]:
        if who.role != "bidder":
            raise KernelError("forbidden", "only bidders submit bids")
        doc = self.tenders.get(check_id(tender_id, "tender"))
        if doc["state"] == "draft":
            raise KernelError("not-found", "no such tender")
        state = effective_state(doc, self.p.now_ms())
        if state == "closed" or not self.p.clock.is_before(doc["deadline_ms"] / 1000):
            raise KernelError("deadline-passed", f"the deadline was {utc_ms(doc['deadline_ms'])}")
        if state != "open":
            raise KernelError("tender-not-open", f"the tender is {state}")
        return doc

    def _current(self, tender_id: str, bidder_fp: str, lot: str) -> BidRow | None:
        with self.p.store.reader() as r:
            live = [b for b in r.bids_of_tender(tender_id, bidder_fp=bidder_fp) if b.status == "live" and b.lot == lot]
        return live[-1] if live else None

    async def submit(
        self,
        who: Principal,
        tender_id: str,
        stream: AsyncIterator[bytes],
        *,
        content_length: int | None,
        declared_sm3: str,
        bidder_cert: Certificate,
        lot: str | None = None,
    ) -> dict[str, Any]:
        """Receive one package (streamed). Returns the receipt; raises :class:`KernelError`, leaving nothing.

        Every byte is hashed once, natively, while it streams: the envelope bytes into their own SM3
        (checked against the signed manifest), the package head (magic, length, manifest) into the
        request's ``Bk-Content-SM3`` (docs/protocol.md "Bid packages": the manifest binds the envelopes).
        """
        lim = self.p.limits
        if content_length is not None and content_length > lim.max_package_bytes:
            raise KernelError("payload-too-large", f"{content_length} bytes; the limit is {lim.max_package_bytes}")
        doc = self._open_tender(tender_id, who)
        certs = opening_certificates(doc)
        rd = _Reader(stream)
        head = await rd.exactly(len(MAGIC) + 4)
        if head[: len(MAGIC)] != MAGIC:
            raise KernelError("malformed-package", "not a bid package (magic BKPKG1)")
        (mlen,) = struct.unpack(">I", head[len(MAGIC) :])
        if mlen > lim.max_manifest_bytes:
            raise KernelError("payload-too-large", f"manifest of {mlen} bytes; the limit is {lim.max_manifest_bytes}")
        raw = await rd.exactly(mlen)
        if not hmac.compare_digest(Sm3Hash(head + raw).hexdigest(), declared_sm3):
            raise KernelError("body-digest-mismatch", "SM3 of the package head differs from Bk-Content-SM3")
        m = _manifest_object(raw, doc["id"])
        lot_id = resolve_lot(doc, m.get("lot"), lot)
        entries = _parse_manifest(m, lim.max_envelopes, lim.max_envelope_bytes)
        sent = [e for e in entries if not e.carry]
        expected = len(head) + mlen + sum(e.size for e in sent)
        if content_length is not None and content_length != expected:
            raise KernelError(
                "malformed-package", f"Content-Length {content_length} but the manifest adds to {expected}"
            )
        # the bidder's detached SignedData over each declared digest, with the authenticated certificate
        for e in entries:
            try:
                verify_digest(e.signature, bytes.fromhex(e.sm3), signer=bidder_cert)
            except CryptoError as exc:
                raise KernelError("bad-signature", f"envelope {e.name!r}: {exc}") from None
        current = self._current(doc["id"], who.fp, lot_id)
        if any(e.carry for e in entries):
            prev = {} if current is None else {x["name"]: x for x in orjson.loads(current.manifest)}
            for e in entries:
                if e.carry and (e.name not in prev or prev[e.name]["sm3"] != e.sm3):
                    raise KernelError("malformed-package", f"{e.name!r}: carried envelope is not in the current bid")
        uploads: list[BlobUpload] = []
        put: list[str] = []
        committed = False
        pending: concurrent.futures.Future[int] | None = None
        try:
            for e in sent:
                up = self.p.blobs.upload(e.size)
                uploads.append(up)
                try:
                    async for chunk in rd.chunks(e.size):
                        up.write(chunk, keep_head=_HEADER_KEEP)
                except BlobTooLarge:  # pragma: no cover - chunks() never yields beyond e.size
                    raise KernelError("payload-too-large", f"{e.name!r} is larger than declared") from None
                if up.digest().hex() != e.sm3:
                    raise KernelError("digest-mismatch", f"envelope {e.name!r} does not hash to its declared SM3")
                _check_envelope(up, e, certs)
            if not await rd.at_end():
                raise KernelError("malformed-package", "bytes after the last envelope")
            # completely transmitted: before the deadline by trusted time?
            reading = self.p.clock.read()
            received_ms = int(reading.timestamp * 1000)
            if not reading.timestamp + reading.uncertainty < doc["deadline_ms"] / 1000:
                raise KernelError("deadline-passed", f"the upload completed after {utc_ms(doc['deadline_ms'])}")
            # files fsynced, their names durable (one batched fsync of the staging directory) ...
            await self._blocking(self.p.blobs.make_durable, uploads)
            if providers.external(self.p):  # a plugin's blob store: durable there before the commit
                put = await self._blocking(providers.put_all, self.p, uploads)
            # ... then bid row + ledger leaf + outbox in one group commit ...
            kind, bid_id, replaces, pending = self._commit(who, doc, entries, current, received_ms, lot_id)
            # shielded: a cancelled request does not cancel a commit the committer may already be writing
            index = await asyncio.shield(asyncio.wrap_future(pending))
            committed = True
        except BaseException:
            if pending is not None and not pending.done():
                # the outcome is not known yet: decide when it is (the committed row may reference these)
                pending.add_done_callback(lambda f: self._settle(f, uploads, put))
            elif not committed:
                await self._blocking(self._discard, uploads, put)
            if isinstance(sys.exc_info()[1], LedgerError):
                raise KernelError("internal", "the ledger refused the commit") from None
            raise
        finally:
            if committed:  # the committed row references these blobs: never discard them now
                await self._blocking(self._place, uploads)
        # ... and only then the receipt, stored as issued
        envelopes = [{"name": e.name, "sm3": e.sm3, "size": e.size} for e in entries]
        try:
            return await self._blocking(
                self.issue_receipt, kind, doc["id"], bid_id, who.fp, envelopes, received_ms, index, replaces, lot_id
            )
        except KernelError as exc:
            if exc.kind in ("timestamp-unavailable", "key-custody-unavailable"):
                # committed and durable: the receipt comes when the provider answers again
                what = "timestamp" if exc.kind == "timestamp-unavailable" else "key custody"
                raise KernelError(
                    exc.kind,
                    f"bid {bid_id} is committed but the {what} provider "
                    f"failed, so no receipt was issued; fetch it: GET /bids/{bid_id}/receipt",
                ) from None
            raise
        except Exception:
            log.exception("receipt of committed bid %s failed", bid_id)
            raise KernelError(
                "internal", f"bid {bid_id} is committed but its receipt failed; fetch it: GET /bids/{bid_id}/receipt"
            ) from None

    def _settle(self, f: concurrent.futures.Future[int], uploads: list[BlobUpload], put: list[str]) -> None:
        """Late outcome of a commit whose request went away: place the blobs if it committed, else discard."""
        if not f.cancelled() and f.exception() is None:
            self._place(uploads)
        else:
            self._discard(uploads, put)

    def _place(self, uploads: list[BlobUpload]) -> None:
        if providers.external(self.p):  # the plugin's store holds them: the local staged copies go
            for up in uploads:
                up.abort()
        else:
            self.p.blobs.place(uploads)

    def _discard(self, uploads: list[BlobUpload], put: Sequence[str] = ()) -> None:
        """Nothing left behind: staged files go (committed bids never reference them), and so do the
        copies already put in a plugin's blob store."""
        for up in uploads:
            up.abort()
        providers.drop_unreferenced(self.p, put)

    def _commit(
        self,
        who: Principal,
        doc: dict[str, Any],
        entries: list[EnvelopeEntry],
        current: BidRow | None,
        received_ms: int,
        lot: str,
    ) -> tuple[str, str, str | None, concurrent.futures.Future[int]]:
        """Queue bid row + ledger leaf + outbox event for one transaction of the group commit; the future
        resolves to the leaf index once durable."""
        bid_id = new_id("b")
        envelopes = [{"name": e.name, "sm3": e.sm3, "size": e.size} for e in entries]
        replaces = current.id if current is not None else None
        data = {
            "tender_id": doc["id"],
            "bid_id": bid_id,
            "bidder": who.fp,
            "envelopes": envelopes,
            "amendment": len(doc["amendments"]),
            "lot": lot,
        }
        kind = "bid.received"
        if replaces is not None:
            kind = "bid.replaced"
            data["replaces"] = replaces
        manifest = orjson.dumps(
            [
                {**env, "signature": base64.b64encode(e.signature).decode()}
                for env, e in zip(envelopes, entries, strict=True)
            ]
        )
        event = Event(kind, received_ms, data)

        def within(tx: Transaction, index: int) -> None:
            row = tx.tender_get(doc["id"])
            if row is None or row.sealed:
                raise KernelError("deadline-passed", "the tender was sealed at its deadline")
            if row.deadline_ms != doc["deadline_ms"] and received_ms >= row.deadline_ms:
                raise KernelError("deadline-passed", "an amendment moved the deadline before this upload completed")
            live = [b for b in tx.bids_of_tender(doc["id"], bidder_fp=who.fp) if b.status == "live" and b.lot == lot]
            if (live[-1].id if live else None) != replaces:
                raise KernelError("concurrent-submission", "your bid changed while this one was uploading")
            try:
                tx.bid_insert(
                    BidRow(bid_id, doc["id"], who.fp, who.org, "live", received_ms, index,
                           len(load_doc(row)["amendments"]), replaces, who.nonce, manifest, lot),
                    [e.sm3 for e in entries],
                )  # fmt: skip
            except DuplicateError:
                raise KernelError("replayed-request", "this request nonce was already used") from None
            if replaces is not None:
                tx.bid_set_status(replaces, "replaced")
            tx.outbox_add(kind, f"{kind}/{bid_id}", orjson.dumps(data), received_ms)

        return kind, bid_id, replaces, self.p.log.submit(event, within=within)

    def issue_receipt(
        self,
        kind: str,
        tender_id: str,
        bid_id: str,
        bidder: str,
        envelopes: list[dict[str, Any]],
        received_ms: int,
        index: int,
        replaces: str | None,
        lot: str,
    ) -> dict[str, Any]:
        """Build, sign and store the receipt of a committed ledger entry; returns it once its exact bytes
        are stored (``GET /bids/{id}/receipt`` serves those bytes)."""
        doc = self._build_receipt(kind, tender_id, bid_id, bidder, envelopes, received_ms, index, replaces, lot)
        self._receipts.submit((bid_id, kind, orjson.dumps(doc)))
        return doc

    def _build_receipt(
        self,
        kind: str,
        tender_id: str,
        bid_id: str,
        bidder: str,
        envelopes: list[dict[str, Any]],
        received_ms: int,
        index: int,
        replaces: str | None,
        lot: str,
    ) -> dict[str, Any]:
        body = {
            "kind": kind,
            "tender_id": tender_id,
            "bid_id": bid_id,
            "bidder": bidder,
            "lot": lot,
            "envelopes": envelopes,
            "received_ms": received_ms,
            "received_at": utc_ms(received_ms),
            "log_origin": self.p.log.origin,
            "log_index": index,
            "leaf_hash": self.p.log.hasher.hash_leaf(self.p.log.leaf(index)).hex(),
            "replaces": replaces,
            "platform": self.p.pki.platform.certificate.fingerprint.hex(),
        }
        # the signature and the token cover M, not the checkpoint: made first, so the checkpoint
        # fetched afterwards is more often one that already covers this entry
        msg = signed_message(body)
        sig = providers.platform_sign(self.p, msg)
        token = providers.stamp(self.p, msg)
        cp = self.p.log.checkpoint_covering(index)
        proof = self.p.log.inclusion_proof(index, checkpoint=cp)
        return build_receipt(
            body,
            signature=sig,
            token=token,
            proof=proof,
            platform_cert=self.p.pki.platform.certificate,
            chain=[self.p.pki.ca.root.certificate],
        )

    def _store_receipts(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        # relaxed: no fsync of its own. The bid it is for is durable already; a power cut before the next
        # durable commit can lose only this stored copy, and then GET issues one with the same body.
        with self.p.store.relaxed_transaction() as tx:
            for bid_id, kind, data in items:
                tx.receipt_put(bid_id, kind, data)

    def stored_receipt(self, bid: BidRow) -> tuple[bytes, bool]:
        """The receipt's exact bytes as issued, and whether they were stored (``False``: the machine
        stopped between the commit and the receipt, so the bidder never got one; it is issued now,
        stored, and served from then on)."""
        from bidkernel.ledger.events import decode_leaf

        kind = decode_leaf(self.p.log.leaf(bid.log_index)).kind
        with self.p.store.reader() as r:
            data = r.receipt_get(bid.id, kind)
        if data is not None:
            return data, True
        envs = [{k: x[k] for k in ("name", "sm3", "size")} for x in orjson.loads(bid.manifest)]
        self.issue_receipt(kind, bid.tender_id, bid.id, bid.bidder_fp, envs, bid.received_ms, bid.log_index,
                           bid.replaces, bid.lot)  # fmt: skip
        with self.p.store.reader() as r:
            data = r.receipt_get(bid.id, kind)
        assert data is not None
        return data, False

    def withdraw(self, who: Principal, bid_id: str) -> dict[str, Any]:
        """撤回 before the deadline: the bid stops counting; the ledger keeps both events."""
        check_id(bid_id, "bid")
        with self.p.store.reader() as r:
            bid = r.bid_get(bid_id)
        if bid is None or who.role != "bidder" or bid.bidder_fp != who.fp:
            if bid is not None and who.role == "supervisor":
                raise KernelError("forbidden", "supervisors read; they do not withdraw")
            raise KernelError("not-found", "no such bid")
        doc = self.tenders.get(bid.tender_id)
        now = self.p.now_ms()
        if not self.p.clock.is_before(doc["deadline_ms"] / 1000):
            raise KernelError("deadline-passed", f"the deadline was {utc_ms(doc['deadline_ms'])}")
        if bid.status != "live":
            raise KernelError("bid-not-live", f"the bid is {bid.status}")
        data = {"tender_id": bid.tender_id, "bid_id": bid.id, "bidder": who.fp, "envelopes": [], "lot": bid.lot}
        event = Event("bid.withdrawn", now, data)

        def within(tx: Transaction, index: int) -> None:
            row = tx.tender_get(bid.tender_id)
            cur = tx.bid_get(bid.id)
            if row is None or row.sealed:
                raise KernelError("deadline-passed", "the tender was sealed at its deadline")
            if cur is None or cur.status != "live":
                raise KernelError("bid-not-live", "the bid is no longer live")
            try:
                tx.nonce_record(who.nonce, now)
            except DuplicateError:
                raise KernelError("replayed-request", "this request nonce was already used") from None
            tx.bid_set_status(bid.id, "withdrawn")
            tx.outbox_add("bid.withdrawn", f"bid.withdrawn/{bid.id}", orjson.dumps(data), now)

        index = self.p.log.append(event, within=within)
        return self.issue_receipt("bid.withdrawn", bid.tender_id, bid.id, who.fp, [], now, index, None, bid.lot)


def blob_path(platform: Platform, sm3_hex: str) -> Path:
    return providers.local_path(platform, sm3_hex)
