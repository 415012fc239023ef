"""Canonical leaf encoding v1 (RFC 8785 subset)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidkernel.ledger.errors import LeafEncodingError
from bidkernel.ledger.events import LEAF_PREFIX_V1, Event, canonical_json, decode_leaf


def bid(**extra: object) -> Event:
    return Event("bid.received", 1_795_000_000_123, {"tender_id": "T-1", "bid_id": "B-7", **extra})


def test_encoding_is_the_documented_bytes() -> None:
    leaf = bid(size=10, ok=True, note=None, tags=["a", "b"]).encode()
    assert leaf == (
        b"bidkernel/event/v1\n"
        b'{"data":{"bid_id":"B-7","note":null,"ok":true,"size":10,"tags":["a","b"],"tender_id":"T-1"},'
        b'"kind":"bid.received","time_ms":1795000000123}'
    )
    assert decode_leaf(leaf) == bid(size=10, ok=True, note=None, tags=["a", "b"])


def test_strings_escape_like_rfc8785() -> None:
    assert canonical_json('a"b\\c\n\t\x01\x1f/é€😀') == '"a\\"b\\\\c\\n\\t\\u0001\\u001f/é€😀"'.encode()
    # keys sort by UTF-16 code units: U+1F600 (surrogates D83D..) sorts before U+FB01
    assert canonical_json({"\ufb01": 1, "😀": 2}) == '{"😀":2,"ﬁ":1}'.encode()
    with pytest.raises(LeafEncodingError):
        canonical_json("\ud800")


@pytest.mark.parametrize(
    "value",
    [1.5, 2**53, -(2**53), b"bytes", {1: "x"}, {"a": float("nan")}, object()],
)
def test_unencodable_values_are_refused(value: object) -> None:
    with pytest.raises(LeafEncodingError):
        canonical_json(value)


def test_depth_limit() -> None:
    v: object = 1
    for _ in range(20):
        v = [v]
    with pytest.raises(LeafEncodingError) as e:
        canonical_json(v)
    assert e.value.code == "too_deep"


@pytest.mark.parametrize(
    ("kind", "data", "code"),
    [
        ("bid.received", {"tender_id": "T"}, "bad_data"),
        ("bid", {}, "bad_kind"),
        ("Bid.Received", {}, "bad_kind"),
        ("payment.sent", {}, "bad_kind"),
        ("plugin.x", {}, "bad_kind"),
    ],
)
def test_kinds_are_checked(kind: str, data: dict[str, object], code: str) -> None:
    with pytest.raises(LeafEncodingError) as e:
        Event(kind, 0, data)
    assert e.value.code == code


def test_open_namespaces() -> None:
    Event("plugin.eseal.sealed", 1, {"x": 1}).encode()
    Event("opening.started", 1, {}).encode()
    with pytest.raises(LeafEncodingError):
        Event("bid.withdrawn", -1, {"tender_id": "T", "bid_id": "B"})
    with pytest.raises(LeafEncodingError):
        Event("bid.withdrawn", True, {"tender_id": "T", "bid_id": "B"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":{"bid_id":"B-7","tender_id":"T-1"}, "kind":"bid.received","time_ms":1}',  # whitespace
        b'{"kind":"bid.received","data":{"bid_id":"B-7","tender_id":"T-1"},"time_ms":1}',  # key order
        b'{"data":{"bid_id":"B-7","tender_id":"T-1"},"kind":"bid.received","time_ms":1.0}',  # float
        b'{"data":{"bid_id":"B-7","bid_id":"B-7","tender_id":"T-1"},"kind":"bid.received","time_ms":1}',
        b'{"data":{"bid_id":"B-\\u0037","tender_id":"T-1"},"kind":"bid.received","time_ms":1}',  # escape
        b'{"data":{"bid_id":"B-7","tender_id":"T-1"},"kind":"bid.received","time_ms":1,"x":0}',
        b'{"data":{"bid_id":"B-7","tender_id":"T-1"},"kind":"bid.received","time_ms":01}',
        b"\xff\xfe",
        b"[]",
    ],
)
def test_decode_refuses_non_canonical_bytes(body: bytes) -> None:
    with pytest.raises(LeafEncodingError):
        decode_leaf(LEAF_PREFIX_V1 + body)


def test_decode_refuses_other_prefixes() -> None:
    good = bid().encode()
    with pytest.raises(LeafEncodingError) as e:
        decode_leaf(b"bidkernel/event/v2\n" + good[len(LEAF_PREFIX_V1) :])
    assert e.value.code == "bad_prefix"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(st.characters(blacklist_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.integers(0, 2**53 - 1))
def test_roundtrip_and_agreement_with_json(data: dict[str, object], t: int) -> None:
    ev = Event("plugin.test.event", t, data)
    leaf = ev.encode()
    assert decode_leaf(leaf) == Event("plugin.test.event", t, json.loads(json.dumps(data)))
    # Parsing with a generic JSON parser gives back the same value.
    assert json.loads(leaf[len(LEAF_PREFIX_V1) :]) == {
        "data": data,
        "kind": "plugin.test.event",
        "time_ms": t,
    }
