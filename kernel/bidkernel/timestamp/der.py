"""A minimal DER writer (ITU-T X.690 §8 and §10) for the structures the TSA emits.

The TSA builds its replies from these few primitives rather than through pyasn1's object model:
it is several times faster on the hot path and keeps every emitted byte visible in one place.
Everything written here is read back by pyasn1 (``asn1.py``) and by OpenSSL in the tests.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

# Universal tags (X.680 §8.4) and the constructed bit.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
SEQUENCE = 0x30
SET = 0x31
GENERALIZED_TIME = 0x18


def tlv(tag: int, content: bytes) -> bytes:
    """One TLV with a definite, minimal length (X.690 §10.1, §8.1.3.5)."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """SET OF with its elements in ascending order of their encodings (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(items)))


def context(number: int, content: bytes, *, constructed: bool = True) -> bytes:
    """A context-specific tag [number] around ``content`` (explicit when constructed wraps a TLV)."""
    if not 0 <= number < 31:
        raise ValueError("context tag number out of range")
    return tlv(0x80 | (0x20 if constructed else 0) | number, content)


def integer(value: int) -> bytes:
    """Two's-complement INTEGER in the fewest octets (X.690 §8.3.2)."""
    length = value.bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(length, "big", signed=True))


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def null() -> bytes:
    return b"\x05\x00"


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


@functools.lru_cache(maxsize=1024)
def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER from dotted form (X.690 §8.19); memoised, the TSA uses a handful."""
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or any(a < 0 for a in arcs):
        raise ValueError(f"not an object identifier: {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(OID, bytes(out))


def generalized_time(moment: datetime, *, digits: int = 3) -> bytes:
    """GeneralizedTime in UTC as RFC 3161 §2.4.2 requires for genTime.

    ``YYYYMMDDhhmmss[.s...]Z``: no fraction when it is zero, and no trailing zeros in the fraction.
    ``digits`` (0-6) is the precision kept; the rest is truncated and the TSTInfo ``accuracy`` the TSA
    states covers the truncation.
    """
    if moment.tzinfo is None:
        raise ValueError("genTime needs an aware datetime")
    if not 0 <= digits <= 6:
        raise ValueError("digits must be 0..6")
    m = moment.astimezone(UTC)
    text = m.strftime("%Y%m%d%H%M%S")
    frac = f"{m.microsecond:06d}"[:digits].rstrip("0")
    if frac:
        text += "." + frac
    return tlv(GENERALIZED_TIME, (text + "Z").encode("ascii"))


@functools.lru_cache(maxsize=256)
def algorithm(dotted: str, *, null_params: bool = False) -> bytes:
    """AlgorithmIdentifier (RFC 5280 §4.1.1.2); parameters absent unless ``null_params``."""
    return seq(oid(dotted), null()) if null_params else seq(oid(dotted))
