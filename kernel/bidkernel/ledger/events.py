"""Kernel events and their canonical leaf encoding, version 1 (docs/protocol.md, "Ledger").

A leaf is::

    b"bidkernel/event/v1\\n" || canonical-JSON({"data": {...}, "kind": "...", "time_ms": <int>})

Canonical JSON here is the I-JSON subset of RFC 8785 (JCS) without numbers other than integers:

* objects with string keys, sorted by their UTF-16 code units (RFC 8785 §3.2.3), no duplicates;
* no insignificant whitespace;
* strings as RFC 8785 §3.2.2.2: ``"`` and ``\\`` escaped, U+0008/0009/000A/000C/000D as ``\\b \\t \\n
  \\f \\r``, other controls below U+0020 as ``\\u00xx`` (lowercase hex), everything else as raw UTF-8;
  lone surrogates are refused;
* integers in ``[-(2**53 - 1), 2**53 - 1]`` in plain decimal (floats are refused: they are the one
  part of JCS that is hard to reproduce);
* ``true``, ``false``, ``null``, arrays; nesting at most 16 deep.

So any RFC 8785 implementation reproduces a leaf byte for byte. Decoding is strict: the bytes must
be exactly the canonical encoding of what they parse to. The prefix makes a leaf unambiguous across
versions and across other uses of the same hash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bidkernel.ledger.errors import LeafEncodingError

LEAF_PREFIX_V1 = b"bidkernel/event/v1\n"
MAX_SAFE_INT = 2**53 - 1
MAX_DEPTH = 16
MAX_LEAF_BYTES = 1 << 20

KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_-]*)+$")

# Kernel event kinds and the data fields each must carry (more fields are allowed).
KERNEL_KINDS: Mapping[str, tuple[str, ...]] = {
    "tender.published": ("tender_id",),
    "tender.amended": ("tender_id",),
    "bid.received": ("tender_id", "bid_id"),
    "bid.replaced": ("tender_id", "bid_id", "replaces"),
    "bid.withdrawn": ("tender_id", "bid_id"),
    "deadline.sealed": ("tender_id",),
    "role.granted": ("fp", "role"),
    "role.revoked": ("fp",),
}
# Namespaces whose kinds are open-ended (their issues define them); ``plugin.<name>.<event>``
# is the only way for a plugin to log, so it cannot forge a kernel event.
OPEN_NAMESPACES = ("opening.", "plugin.")

JSONValue = Any


@dataclass(frozen=True)
class Event:
    """One kernel event: ``kind`` (e.g. ``bid.received``), ``time_ms`` (milliseconds since the Unix
    epoch on the kernel's trusted clock) and ``data`` (a JSON object).
    """

    kind: str
    time_ms: int
    data: Mapping[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_kind(self.kind, self.data)
        if isinstance(self.time_ms, bool) or not isinstance(self.time_ms, int):
            raise LeafEncodingError("bad_time", "time_ms must be an integer")
        if not 0 <= self.time_ms <= MAX_SAFE_INT:
            raise LeafEncodingError("bad_time", f"time_ms {self.time_ms} is out of range")

    def to_json(self) -> dict[str, JSONValue]:
        return {"data": dict(self.data), "kind": self.kind, "time_ms": self.time_ms}

    def encode(self) -> bytes:
        """The canonical v1 leaf bytes of this event."""
        return encode_event(self)


def validate_kind(kind: str, data: Mapping[str, JSONValue]) -> None:
    if not isinstance(kind, str) or not KIND_RE.match(kind):
        raise LeafEncodingError("bad_kind", f"event kind {kind!r} is not of the form namespace.name")
    if not isinstance(data, Mapping):
        raise LeafEncodingError("bad_data", "event data must be a JSON object")
    required = KERNEL_KINDS.get(kind)
    if required is None:
        if kind.startswith("plugin.") and kind.count(".") < 2:
            raise LeafEncodingError("bad_kind", f"plugin events are plugin.<name>.<event>, not {kind!r}")
        if not kind.startswith(OPEN_NAMESPACES):
            raise LeafEncodingError("bad_kind", f"unknown event kind {kind!r}")
        return
    missing = [k for k in required if k not in data]
    if missing:
        raise LeafEncodingError("bad_data", f"{kind} event lacks {', '.join(missing)}")


# --------------------------------------------------------------------------------------------
# Canonical JSON (RFC 8785 subset)
# --------------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def _enc_str(s: str, out: list[str]) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise LeafEncodingError("bad_string", "strings must be valid Unicode (no lone surrogates)") from None
    out.append('"')
    out.append(_NEEDS_ESCAPE.sub(_escape_char, s))
    out.append('"')


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _enc(v: JSONValue, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise LeafEncodingError("too_deep", f"event data nests deeper than {MAX_DEPTH}")
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        if not -MAX_SAFE_INT <= v <= MAX_SAFE_INT:
            raise LeafEncodingError("bad_number", f"integer {v} is outside ±(2**53 - 1)")
        out.append(str(int(v)))
    elif isinstance(v, str):
        _enc_str(v, out)
    elif isinstance(v, Mapping):
        for k in v:
            if not isinstance(k, str):
                raise LeafEncodingError("bad_key", f"object keys must be strings, not {type(k).__name__}")
        out.append("{")
        for i, k in enumerate(sorted(v, key=_utf16_key)):
            if i:
                out.append(",")
            _enc_str(k, out)
            out.append(":")
            _enc(v[k], out, depth + 1)
        out.append("}")
    elif isinstance(v, list | tuple):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _enc(item, out, depth + 1)
        out.append("]")
    elif isinstance(v, float):
        raise LeafEncodingError("bad_number", "floats are not allowed in events; use integers or strings")
    else:
        raise LeafEncodingError("bad_type", f"{type(v).__name__} is not a JSON value; hex-encode bytes")


def canonical_json(value: JSONValue) -> bytes:
    """The canonical JSON bytes of ``value`` (the RFC 8785 subset described in the module doc)."""
    out: list[str] = []
    _enc(value, out, 0)
    return "".join(out).encode("utf-8")


def encode_event(event: Event) -> bytes:
    """Leaf bytes, v1: ``LEAF_PREFIX_V1 || canonical_json(event)``."""
    leaf = LEAF_PREFIX_V1 + canonical_json(event.to_json())
    if len(leaf) > MAX_LEAF_BYTES:
        raise LeafEncodingError("too_large", f"leaf is {len(leaf)} bytes; the limit is {MAX_LEAF_BYTES}")
    return leaf


def _no_float(s: str) -> None:
    raise LeafEncodingError("bad_number", f"non-integer number {s!r} in leaf")


def _pairs(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    d: dict[str, JSONValue] = {}
    for k, v in pairs:
        if k in d:
            raise LeafEncodingError("not_canonical", f"duplicate key {k!r} in leaf")
        d[k] = v
    return d


def decode_leaf(leaf: bytes) -> Event:
    """Parse v1 leaf bytes strictly: they must be exactly the canonical encoding of an event."""
    if not leaf.startswith(LEAF_PREFIX_V1):
        raise LeafEncodingError("bad_prefix", "leaf does not start with 'bidkernel/event/v1\\n'")
    if len(leaf) > MAX_LEAF_BYTES:
        raise LeafEncodingError("too_large", f"leaf is {len(leaf)} bytes; the limit is {MAX_LEAF_BYTES}")
    body = leaf[len(LEAF_PREFIX_V1) :]
    try:
        obj = json.loads(
            body.decode("utf-8", "strict"),
            object_pairs_hook=_pairs,
            parse_float=_no_float,
            parse_constant=_no_float,
        )
    except LeafEncodingError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise LeafEncodingError("bad_json", f"leaf body is not JSON: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != {"data", "kind", "time_ms"}:
        raise LeafEncodingError("bad_shape", "leaf body must be an object with exactly data, kind, time_ms")
    event = Event(kind=obj["kind"], time_ms=obj["time_ms"], data=obj["data"])
    if encode_event(event) != leaf:
        raise LeafEncodingError("not_canonical", "leaf bytes are not in canonical form")
    return event
