"""Intake: a sealed bid -> verified, stored durably, logged, receipted (../shared/DESIGN.md §3).

Rules implemented (../shared/DOMAIN.md; 电子招标投标办法 2013):

* the platform refuses an unencrypted bid with a clear prompt: every envelope must parse as a GM/T 0010
  EnvelopedData sealed (SM2 key transport) to every opening certificate fixed at publication;
* a bid must be completely transmitted before the deadline, judged by the kernel's trusted clock only
  (never the client's): checked when the request starts and again when the last byte has arrived, and
  the ledger commit refuses any bid once the tender is sealed;
* before the deadline a bidder may replace (the latest complete submission counts; the previous one is
  marked ``replaced``), supplement (a new submission may carry an envelope of its previous one by digest
  without re-sending it) or withdraw; the history stays in the ledger;
* nothing is decrypted here: this module imports no decryption routine;
* the receipt (Art. 23) exists only after the blobs are fsynced under their content address and the bid
  row, its ledger leaf and its outbox event are committed in one transaction (the ledger's group commit).

Package framing (docs/protocol.md "Bid packages")::

    b"BKPKG1\\n" || uint32-be(len(manifest)) || manifest JSON || envelope bytes, in manifest order
"""

from __future__ import annotations

import asyncio
import base64
import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

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
from bidkernel.tenders import TenderService, check_id, effective_state, load_doc, new_id, opening_certificates

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


def parse_manifest(raw: bytes, tender_id: str, max_envelopes: int, max_size: int) -> list[EnvelopeEntry]:
    try:
        m = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KernelError("malformed-package", "the manifest is not JSON") from None
    if not isinstance(m, dict) or m.get("format") != PACKAGE_FORMAT:
        raise KernelError("malformed-package", f"the manifest format must be {PACKAGE_FORMAT}")
    if m.get("tender_id") != tender_id:
        raise KernelError("wrong-tender", "the package was sealed for another tender")
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

    def _current(self, tender_id: str, bidder_fp: str) -> BidRow | None:
        with self.p.store.reader() as r:
            live = [b for b in r.bids_of_tender(tender_id, bidder_fp=bidder_fp) if b.status == "live"]
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
    ) -> dict[str, Any]:
        """Receive one package (streamed). Returns the receipt; raises :class:`KernelError`, leaving nothing."""
        lim = self.p.limits
        if content_length is not None and content_length > lim.max_package_bytes:
            raise KernelError("payload-too-large", f"{content_length} bytes; the limit is {lim.max_package_bytes}")
        doc = self._open_tender(tender_id, who)
        certs = opening_certificates(doc)
        body_hash = Sm3Hash()
        rd = _Reader(stream)
        head = await rd.exactly(len(MAGIC) + 4)
        if head[: len(MAGIC)] != MAGIC:
            raise KernelError("malformed-package", "not a bid package (magic BKPKG1)")
        (mlen,) = struct.unpack(">I", head[len(MAGIC) :])
        if mlen > lim.max_manifest_bytes:
            raise KernelError("payload-too-large", f"manifest of {mlen} bytes; the limit is {lim.max_manifest_bytes}")
        raw = await rd.exactly(mlen)
        body_hash.update(head)
        body_hash.update(raw)
        entries = parse_manifest(raw, doc["id"], lim.max_envelopes, lim.max_envelope_bytes)
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
        current = self._current(doc["id"], who.fp)
        if any(e.carry for e in entries):
            prev = {} if current is None else {x["name"]: x for x in orjson.loads(current.manifest)}
            for e in entries:
                if e.carry and (e.name not in prev or prev[e.name]["sm3"] != e.sm3):
                    raise KernelError("malformed-package", f"{e.name!r}: carried envelope is not in the current bid")
        uploads: list[BlobUpload] = []
        committed: list[tuple[str, bool]] = []
        try:
            for e in sent:
                up = self.p.blobs.upload(e.size)
                uploads.append(up)
                try:
                    async for chunk in rd.chunks(e.size):
                        up.write(chunk, keep_head=_HEADER_KEEP)
                        body_hash.update(chunk)
                except BlobTooLarge:  # pragma: no cover - chunks() never yields beyond e.size
                    raise KernelError("payload-too-large", f"{e.name!r} is larger than declared") from None
                if up.digest().hex() != e.sm3:
                    raise KernelError("digest-mismatch", f"envelope {e.name!r} does not hash to its declared SM3")
                _check_envelope(up, e, certs)
            if not await rd.at_end():
                raise KernelError("malformed-package", "bytes after the last envelope")
            if body_hash.digest().hex() != declared_sm3:
                raise KernelError("body-digest-mismatch", "SM3 of the body differs from Bk-Content-SM3")
            # completely transmitted: before the deadline by trusted time?
            reading = self.p.clock.read()
            received_ms = int(reading.timestamp * 1000)
            if not reading.timestamp + reading.uncertainty < doc["deadline_ms"] / 1000:
                raise KernelError("deadline-passed", f"the upload completed after {utc_ms(doc['deadline_ms'])}")
            await asyncio.to_thread(_durable, uploads, committed)
            return await self._commit(who, doc, entries, current, received_ms)
        except BaseException:
            for up in uploads:
                up.abort()
            if committed:
                await asyncio.to_thread(self._drop_unreferenced, [n for n, created in committed if created])
            raise

    def _drop_unreferenced(self, names: list[str]) -> None:
        with self.p.store.reader() as r:
            for n in names:
                if not r.blob_referenced(n):
                    self.p.blobs.remove(n)

    async def _commit(
        self,
        who: Principal,
        doc: dict[str, Any],
        entries: list[EnvelopeEntry],
        current: BidRow | None,
        received_ms: int,
    ) -> dict[str, Any]:
        bid_id = new_id("b")
        envelopes = [{"name": e.name, "sm3": e.sm3, "size": e.size} for e in entries]
        replaces = current.id if current is not None else None
        data = {
            "tender_id": doc["id"],
            "bid_id": bid_id,
            "bidder": who.fp,
            "envelopes": envelopes,
            "amendment": len(doc["amendments"]),
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
            live = [b for b in tx.bids_of_tender(doc["id"], bidder_fp=who.fp) if b.status == "live"]
            if (live[-1].id if live else None) != replaces:
                raise KernelError("concurrent-submission", "your bid changed while this one was uploading")
            try:
                tx.bid_insert(
                    BidRow(bid_id, doc["id"], who.fp, who.org, "live", received_ms, index,
                           len(load_doc(row)["amendments"]), replaces, who.nonce, manifest),
                    [e.sm3 for e in entries],
                )  # fmt: skip
            except DuplicateError:
                raise KernelError("replayed-request", "this request nonce was already used") from None
            if replaces is not None:
                tx.bid_set_status(replaces, "replaced")
            tx.outbox_add(kind, f"{kind}/{bid_id}", orjson.dumps(data), received_ms)

        try:
            index = await self.p.log.append_async(event, within=within)
        except LedgerError as exc:
            raise KernelError("internal", f"the ledger refused the commit: {exc.args[0] if exc.args else ''}") from None
        return await asyncio.to_thread(
            self.receipt, kind, doc["id"], bid_id, who.fp, envelopes, received_ms, index, replaces
        )

    def receipt(
        self,
        kind: str,
        tender_id: str,
        bid_id: str,
        bidder: str,
        envelopes: list[dict[str, Any]],
        received_ms: int,
        index: int,
        replaces: str | None,
    ) -> dict[str, Any]:
        """Build and sign the receipt of a committed ledger entry (checkpoint, proof, token, signature)."""
        from bidkernel.crypto import sm2

        cp = self.p.log.checkpoint_covering(index)
        proof = self.p.log.inclusion_proof(index, checkpoint=cp)
        body = {
            "kind": kind,
            "tender_id": tender_id,
            "bid_id": bid_id,
            "bidder": bidder,
            "envelopes": envelopes,
            "received_ms": received_ms,
            "received_at": utc_ms(received_ms),
            "log_origin": self.p.log.origin,
            "log_index": index,
            "leaf_hash": proof.leaf_hash.hex(),
            "replaces": replaces,
            "platform": self.p.pki.platform.certificate.fingerprint.hex(),
        }
        msg = signed_message(body)
        sig = sm2.sign(self.p.pki.platform.key, msg, id=sm2.DEFAULT_ID, fmt="der")
        token = self.p.tsa.stamp(msg)
        return build_receipt(
            body,
            signature=sig,
            token=token,
            proof=proof,
            platform_cert=self.p.pki.platform.certificate,
            chain=[self.p.pki.ca.root.certificate],
        )

    def receipt_for(self, bid: BidRow) -> dict[str, Any]:
        """Re-issue the receipt of a stored submission (fresh token and checkpoint, same body)."""
        from bidkernel.ledger.events import decode_leaf

        event = decode_leaf(self.p.log.leaf(bid.log_index))
        envs = [{k: x[k] for k in ("name", "sm3", "size")} for x in orjson.loads(bid.manifest)]
        return self.receipt(event.kind, bid.tender_id, bid.id, bid.bidder_fp, envs, bid.received_ms,
                            bid.log_index, bid.replaces)  # fmt: skip

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
        data = {"tender_id": bid.tender_id, "bid_id": bid.id, "bidder": who.fp, "envelopes": []}
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
        return self.receipt("bid.withdrawn", bid.tender_id, bid.id, who.fp, [], now, index, None)


def _durable(uploads: list[BlobUpload], committed: list[tuple[str, bool]]) -> None:
    """fsync each file, rename it to its content address, fsync the directory."""
    for up in uploads:
        path, created = up.commit()
        committed.append((path.name, created))


def blob_path(platform: Platform, sm3_hex: str) -> Path:
    return platform.blobs.path(sm3_hex)
