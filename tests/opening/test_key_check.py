"""The bidder-key check against the envelope: a key check value the bidder signed before the deadline
(KCV = SM3(label || content key), a signed attribute of the envelope's signature) decides exactly; a wrong
key built on purpose so that the last CBC block's padding is valid — which the padding check lets through —
is refused and the refusal logged; packages without a KCV keep the padding check and the record says so."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import orjson
import pytest
from opening_support import Hall

from bidkernel import providers
from bidkernel.client import ApiError
from bidkernel.crypto import sm4
from bidkernel.crypto.ca import TestCA
from bidkernel.crypto.envelope import (
    KEY_CHECK_LABEL,
    key_check_value,
    read_header_from_file,
    sign_digest,
    signed_key_check,
    verify_digest,
)
from bidkernel.crypto.errors import CryptoError, InvalidSignature
from bidkernel.crypto.sm3 import sm3
from bidkernel.ledger.events import decode_leaf
from bidkernel.opening import keycheck


def _padding_valid_wrong_key(path: Path, right: bytes) -> bytes:
    """A key other than ``right`` under which the envelope's last block ends in valid PKCS#7 padding."""
    h = read_header_from_file(path)
    with open(path, "rb") as f:
        if h.ciphertext_length >= 32:
            f.seek(h.ciphertext_offset + h.ciphertext_length - 32)
            prev, last = f.read(16), f.read(16)
        else:
            f.seek(h.ciphertext_offset)
            prev, last = h.iv, f.read(16)
    for _ in range(100_000):  # expected ~2^8 tries (a last byte 0x01 alone is 1/256)
        k = secrets.token_bytes(16)
        try:
            sm4.cbc_decrypt(k, prev, last)
        except CryptoError:
            continue
        if k != right:
            return k
    raise AssertionError("no padding-valid key found")


def test_kcv_is_sm3_of_label_and_key_and_travels_in_the_signature() -> None:
    ca = TestCA.create("CN=kcv test CA")
    who = ca.issue("CN=bidder")
    key, digest = os.urandom(16), os.urandom(32)
    assert key_check_value(key) == sm3(b"bidkernel/content-key-check/v1\x00" + key) == sm3(KEY_CHECK_LABEL + key)
    sig = sign_digest(digest, who.key, who.certificate, key_check=key_check_value(key))
    assert verify_digest(sig, digest).key_check == key_check_value(key) == signed_key_check(sig)
    assert verify_digest(sign_digest(digest, who.key, who.certificate), digest).key_check is None
    # the attribute is in the signed set: a KCV swapped after signing breaks the signature
    forged = sig.replace(key_check_value(key), key_check_value(os.urandom(16)))
    with pytest.raises(InvalidSignature):
        verify_digest(forged, digest)
    with pytest.raises(ValueError):
        sign_digest(digest, who.key, who.certificate, key_check=b"short")


def test_wrong_key_with_valid_padding_is_refused_and_the_weaker_check_is_recorded(hall: Hall) -> None:
    t = hall.tender("bidder", seconds=60, decryption_window_s=120, remedy="none")
    prices = (("A", 1), ("B", 2), ("C", 3))
    sub = {n: hall.submit(n, t, price=p, size=5000, own=True, kcv=(n != "C")) for n, p in prices}
    bid = {n: b for n, (b, _pkg) in sub.items()}

    def keys(n: str) -> dict[str, bytes]:
        return hall.content_keys(n, sub[n][1])

    hall.after_deadline(t)
    hall.advance_to(t["opening_ms"])
    hall.agency().open_tender(t["id"])
    # A's summary: a wrong key whose padding is valid, built on purpose
    with hall.k.platform.store.reader() as r:
        row = r.bid_get(bid["A"])
    assert row is not None
    entry = next(e for e in orjson.loads(row.manifest) if e["name"] == "summary")
    path = providers.local_path(hall.k.platform, entry["sm3"])
    right = keys("A")["summary"]
    wrong = _padding_valid_wrong_key(path, right)
    assert keycheck.padding_fits(path, wrong)  # the padding check alone would let it through
    assert keycheck.check_key(path, entry, wrong) == (False, keycheck.KCV)
    assert keycheck.check_key(path, entry, right) == (True, keycheck.KCV)
    with pytest.raises(ApiError) as e:
        hall.bidder("A").release_bid_keys(bid["A"], {"summary": wrong})
    assert (e.value.status, e.value.kind) == (422, "bad-key-release")
    assert hall.plaintext_bytes() == 0
    # the right keys pass; C's package has no KCV: the padding check is used, and said so
    out = hall.bidder("A").release_bid_keys(bid["A"], keys("A"))
    assert out["checks"] == {"summary": "key-check-value", "doc0": "key-check-value"}
    hall.bidder("B").release_bid_keys(bid["B"], keys("B"))
    out = hall.bidder("C").release_bid_keys(bid["C"], keys("C"))
    assert out["checks"] == {"summary": "padding", "doc0": "padding"}
    st = hall.wait_final(t["id"])
    assert st["state"] == "opened" and st["failures"] == []
    custody = st["record"]["record"]["custody"]
    assert custody["bidder_key_checks"][f"{bid['A']}/summary"] == "key-check-value"
    assert custody["bidder_key_checks"][f"{bid['C']}/doc0"] == "padding"
    [refusal] = custody["key_refusals"]
    assert (refusal["bid_id"], refusal["envelope"], refusal["failed_check"]) == (bid["A"], "summary", "key-check-value")
    leaf = decode_leaf(hall.k.platform.log.leaf(refusal["log_index"]))
    assert leaf.kind == "opening.key_refused" and leaf.data["bid_id"] == bid["A"]
    got = hall.k.client("agency-a").raw("GET", f"/bids/{bid['A']}/plaintext/summary")[2]
    assert orjson.loads(got)["price"] == 1
