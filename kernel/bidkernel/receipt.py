"""Receipts (回执): what the platform returns at once for every accepted submission or withdrawal.

电子招标投标办法 (2013) Art. 23 (as summarised in ../shared/DOMAIN.md): on receipt the platform must at once
return a confirmation receipt and store the bid safely. A receipt is issued only after the envelope
blobs are fsynced under their content address and the bid row and its ledger leaf are committed.

The byte-exact format is docs/protocol.md "## Receipts". In short::

    signed message M = b"bidkernel/receipt/v1\\n" || canonical_json(body)     (RFC 8785 subset, ledger/events.py)
    signature        = SM2 (GB/T 32918.2, ID 1234567812345678, DER) over M by the platform certificate
    timestamp_token  = RFC 3161 TimeStampToken whose messageImprint is SM3(M)
    inclusion_proof  = RFC 9162 PATH(log_index, tree) with the leaf and a platform-signed checkpoint

:func:`verify_receipt` checks all of it offline.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509 as cx509

from bidkernel.crypto import sm2
from bidkernel.crypto.x509 import Certificate, CertificateError, verify_chain
from bidkernel.ledger.checkpoint import SM2NoteVerifier
from bidkernel.ledger.errors import LedgerError
from bidkernel.ledger.events import canonical_json, decode_leaf
from bidkernel.ledger.proofs import InclusionProof
from bidkernel.timestamp.errors import TimestampError
from bidkernel.timestamp.verify import Trust, verify_token

RECEIPT_FORMAT = "bidkernel/receipt/v1"
SIGNED_PREFIX = b"bidkernel/receipt/v1\n"
BODY_KEYS = {
    "kind",
    "tender_id",
    "bid_id",
    "bidder",
    "lot",
    "envelopes",
    "received_ms",
    "received_at",
    "log_origin",
    "log_index",
    "leaf_hash",
    "replaces",
    "platform",
}


class ReceiptError(Exception):
    """A receipt that does not verify; ``code`` names the failed check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def signed_message(body: Mapping[str, Any]) -> bytes:
    """``M``: what the platform signature covers and the timestamp token's imprint is over."""
    return SIGNED_PREFIX + canonical_json(dict(body))


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(v: object, what: str) -> bytes:
    if not isinstance(v, str):
        raise ReceiptError("format", f"{what} must be base64 text")
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise ReceiptError("format", f"{what} is not base64") from None


def build_receipt(
    body: Mapping[str, Any],
    *,
    signature: bytes,
    token: bytes,
    proof: InclusionProof,
    platform_cert: Certificate,
    chain: Sequence[Certificate],
) -> dict[str, Any]:
    """The receipt document (JSON object) from its parts."""
    return {
        "format": RECEIPT_FORMAT,
        "body": dict(body),
        "signature": _b64(signature),
        "timestamp_token": _b64(token),
        "inclusion_proof": proof.to_json(),
        "platform_certificate": platform_cert.to_pem().decode(),
        "platform_chain": [c.to_pem().decode() for c in chain],
    }


@dataclass(frozen=True)
class ReceiptSummary:
    kind: str
    tender_id: str
    bid_id: str
    bidder: str
    lot: str
    log_index: int
    received_at: str
    timestamp: _dt.datetime
    tree_size: int
    envelopes: list[dict[str, Any]]


def verify_receipt(doc: Any, *, roots: Sequence[Certificate] | None = None) -> ReceiptSummary:
    """Verify every part of a receipt offline (docs/protocol.md "Receipts", "Verifying a receipt").

    ``roots``: trusted root certificates for the platform and TSA certificates; when ``None``, the
    last certificate of ``platform_chain`` is taken as root (self-asserted: only checks consistency).
    Raises :class:`ReceiptError`.
    """
    if not isinstance(doc, Mapping) or doc.get("format") != RECEIPT_FORMAT:
        raise ReceiptError("format", f"not a {RECEIPT_FORMAT} document")
    body = doc.get("body")
    if not isinstance(body, Mapping) or set(body) != BODY_KEYS:
        raise ReceiptError("format", "body must have exactly the documented fields")
    msg = signed_message(body)
    try:
        pcert = Certificate.from_pem(str(doc["platform_certificate"]).encode())
        chain = [Certificate.from_pem(str(p).encode()) for p in doc.get("platform_chain", [])]
    except Exception:
        raise ReceiptError("format", "platform certificate or chain is not PEM") from None
    if not chain and roots is None:
        raise ReceiptError("untrusted", "no trust root given and no chain in the receipt")
    trust_roots = list(roots) if roots is not None else [chain[-1]]
    received_ms = body["received_ms"]
    if not isinstance(received_ms, int):
        raise ReceiptError("format", "received_ms must be an integer")
    at = _dt.datetime.fromtimestamp(received_ms / 1000, _dt.UTC)
    # 1. the platform certificate chains to a trusted root at the receipt's trusted time
    try:
        verify_chain(pcert, roots=trust_roots, intermediates=chain, at=at)
    except CertificateError as exc:
        raise ReceiptError("certificate", f"platform certificate: {exc}") from None
    if body["platform"] != pcert.fingerprint.hex():
        raise ReceiptError("certificate", "body.platform is not the platform certificate's SM3 fingerprint")
    # 2. the platform's SM2 signature over M
    sig = _unb64(doc.get("signature"), "signature")
    if not sm2.verify(pcert.public_key, msg, sig, id=sm2.DEFAULT_ID, fmt="der"):
        raise ReceiptError("signature", "the platform signature over the receipt body does not verify")
    # 3. the RFC 3161 token over SM3(M), by a TSA chaining to the same roots
    token = _unb64(doc.get("timestamp_token"), "timestamp_token")
    anchors = [cx509.load_der_x509_certificate(r.der) for r in trust_roots]
    extra = [cx509.load_der_x509_certificate(c.der) for c in chain]
    try:
        info = verify_token(token, msg, Trust(anchors, extra))
    except TimestampError as exc:
        raise ReceiptError("timestamp", f"timestamp token: {exc}") from None
    if info.hash_algorithm != "sm3":
        raise ReceiptError("timestamp", f"token imprint is {info.hash_algorithm}, not SM3")
    slack = (info.accuracy or 0.0) + 1.0
    if info.gen_time.timestamp() + slack < received_ms / 1000:
        raise ReceiptError("timestamp", "the token predates the receive time")
    # 4. the inclusion proof, its checkpoint signature, and that the leaf is this submission
    try:
        proof = InclusionProof.from_json(doc.get("inclusion_proof"))
        verifier = SM2NoteVerifier(str(body["log_origin"]), pcert.public_key)
        cp = proof.verify([verifier])
    except (LedgerError, ValueError) as exc:
        raise ReceiptError("inclusion", f"inclusion proof: {exc}") from None
    if cp is None:
        raise ReceiptError("inclusion", "the inclusion proof carries no signed checkpoint")
    if proof.origin != body["log_origin"] or proof.leaf_index != body["log_index"]:
        raise ReceiptError("inclusion", "the proof is for another log or index")
    if not hmac.compare_digest(proof.leaf_hash.hex(), str(body["leaf_hash"])):
        raise ReceiptError("inclusion", "the proof's leaf hash differs from the receipt's")
    if proof.leaf is None:
        raise ReceiptError("inclusion", "the proof lacks the leaf bytes")
    try:
        event = decode_leaf(proof.leaf)
    except LedgerError as exc:
        raise ReceiptError("inclusion", f"leaf: {exc}") from None
    expect = {
        "tender_id": body["tender_id"],
        "bid_id": body["bid_id"],
        "bidder": body["bidder"],
        "lot": body["lot"],
        "envelopes": body["envelopes"],
    }
    got = {k: event.data.get(k) for k in expect}
    if event.kind != body["kind"] or event.time_ms != received_ms or got != expect:
        raise ReceiptError("inclusion", "the ledger leaf does not record this submission")
    return ReceiptSummary(
        kind=str(body["kind"]),
        tender_id=str(body["tender_id"]),
        bid_id=str(body["bid_id"]),
        bidder=str(body["bidder"]),
        lot=str(body["lot"]),
        log_index=int(body["log_index"]),
        received_at=str(body["received_at"]),
        timestamp=info.gen_time,
        tree_size=proof.tree_size,
        envelopes=list(body["envelopes"]),
    )
