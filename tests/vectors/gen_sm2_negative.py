"""Generate tests/vectors/sm2_negative.json: named SM2 cases that must be rejected.

Run once (``python tests/vectors/gen_sm2_negative.py``); the output is committed. The base values
are the GB/T 32918.5 Annex A signature and Annex C ciphertext read from ../shared/vectors (so the
bases come from the standard, not from bidkernel); every mutation is computed here with plain
big-integer arithmetic and hand-written DER, independently of the code under test. Each case has a
``description``; ``expect`` is ``"valid"`` for the few control cases and ``"invalid"`` otherwise,
and decryption cases name the coarse ``reason`` bidkernel must report (``malformed`` when the
ciphertext cannot be parsed or C1 is not a curve point, ``integrity`` when C3 does not match).

A case with an all-zero KDF output cannot be constructed without an SM3 preimage; that rule is
covered by code review and the Rust unit tests, not by this file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "vectors" / "sm2_gbt32918.json"


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_len(len(body)) + body


def der_int(v: int) -> bytes:
    b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return der_tlv(0x02, b)


def der_int_raw(body: bytes) -> bytes:
    return der_tlv(0x02, body)


def der_seq(*parts: bytes) -> bytes:
    return der_tlv(0x30, b"".join(parts))


def main() -> int:
    v = json.loads(SHARED.read_text())
    curve = v["curve"]
    p, a, b, n = (int(curve[k], 16) for k in ("p", "a", "b", "n"))
    sig_case = next(c for c in v["cases"] if c["id"] == "gbt32918.5-annexA-sign")
    enc_case = next(c for c in v["cases"] if c["id"] == "gbt32918.5-annexC-encrypt")

    def on_curve(x: int, y: int) -> bool:
        return x < p and y < p and (y * y - (x * x * x + a * x + b)) % p == 0

    pub = sig_case["public_key_sec1_uncompressed"]
    msg = sig_case["msg"]
    uid = sig_case["uid"]
    r = int(sig_case["r"], 16)
    s = int(sig_case["s"], 16)
    good_der = bytes.fromhex(sig_case["signature_der"])

    def raw(r_: int, s_: int) -> str:
        return (r_.to_bytes(32, "big") + s_.to_bytes(32, "big")).hex()

    # A second, unrelated key: Annex A/C use d; "wrong key" cases use this public point.
    # x = smallest x >= Px+1 on the curve whose y we can take by the p = 3 mod 4 square root.
    assert p % 4 == 3
    x = int(sig_case["px"], 16) + 1
    while True:
        rhs = (x**3 + a * x + b) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs:
            break
        x += 1
    other_pub = "04" + x.to_bytes(32, "big").hex() + y.to_bytes(32, "big").hex()
    assert on_curve(x, y)

    sig_cases: list[dict[str, Any]] = []

    def sc(name: str, description: str, sig: str, fmt: str = "der", expect: str = "invalid", **kw: str) -> None:
        case = {
            "name": name,
            "description": description,
            "public_key": kw.get("public_key", pub),
            "msg": kw.get("msg", msg),
            "id": kw.get("id", uid),
            "sig": sig,
            "fmt": fmt,
            "expect": expect,
        }
        sig_cases.append(case)

    sc("control-der", "Annex A signature as given (DER): must verify", good_der.hex(), expect="valid")
    sc("control-raw", "Annex A signature as given (raw r||s): must verify", raw(r, s), "raw", expect="valid")
    sc(
        "wrong-id-empty",
        "signed with ID 1234567812345678, verified with the empty ID (OpenSSL default)",
        good_der.hex(),
        id="",
    )
    sc("wrong-id-suffix", "verified with ID 12345678123456789", good_der.hex(), id=uid + "39")
    sc("wrong-message", "message with its last byte changed", good_der.hex(), msg=msg[:-2] + "75")
    sc("wrong-key", "a valid curve point that is not the signer's key", good_der.hex(), public_key=other_pub)
    sc("r-zero-raw", "r = 0 (raw)", raw(0, s), "raw")
    sc("s-zero-raw", "s = 0 (raw)", raw(r, 0), "raw")
    sc("r-zero-der", "r = 0 (DER)", der_seq(der_int(0), der_int(s)).hex())
    sc("s-zero-der", "s = 0 (DER)", der_seq(der_int(r), der_int(0)).hex())
    sc("r-eq-n", "r = n (raw)", raw(n, s), "raw")
    sc("s-eq-n", "s = n (raw)", raw(r, n), "raw")
    sc("r-n-plus-1", "r = n + 1 (raw): out of range, must not be reduced mod n", raw(n + 1, s), "raw")
    sc("s-max", "s = 2^256 - 1 (raw)", raw(r, 2**256 - 1), "raw")
    sc("r-eq-n-der", "r = n (DER)", der_seq(der_int(n), der_int(s)).hex())
    sc("s-plus-n-der", "s + n (DER, 257 bits)", der_seq(der_int(r), der_int(s + n)).hex())
    sc("t-zero", "s = n - r so t = r + s = 0 mod n (GB/T 32918.2 7.1 B5)", raw(r, n - r), "raw")
    sc("swapped", "r and s swapped", raw(s, r), "raw")
    sc(
        "r-negative-der",
        "r encoded as a negative INTEGER (sign pad removed)",
        der_seq(der_int_raw(r.to_bytes(32, "big")), der_int(s)).hex(),
    )
    sc(
        "r-nonminimal-der",
        "r with a superfluous leading 00 00",
        der_seq(der_int_raw(b"\x00\x00" + r.to_bytes(32, "big")), der_int(s)).hex(),
    )
    sc("der-truncated", "DER signature missing its last byte", good_der[:-1].hex())
    sc("der-trailing-zero", "DER signature followed by a 00 byte", (good_der + b"\x00").hex())
    sc("der-trailing-seq", "DER signature followed by a second SEQUENCE", (good_der + good_der).hex())
    sc("der-long-length", "outer length in long form (0x81 0x46): BER, not DER", ("3081" + good_der[1:].hex()))
    sc("der-indefinite", "indefinite-length outer SEQUENCE (BER)", ("3080" + good_der[2:].hex() + "0000"))
    sc("der-set-tag", "outer tag SET (0x31) instead of SEQUENCE", ("31" + good_der[1:].hex()))
    sc("der-extra-element", "SEQUENCE with a third INTEGER", der_seq(der_int(r), der_int(s), der_int(1)).hex())
    sc("der-one-element", "SEQUENCE with only r", der_seq(der_int(r)).hex())
    sc("raw-63", "raw signature of 63 bytes", raw(r, s)[:-2], "raw")
    sc("raw-65", "raw signature of 65 bytes", raw(r, s) + "00", "raw")
    sc("raw-as-der", "raw r||s given where DER is expected", raw(r, s))
    sc("der-as-raw", "DER given where raw is expected", good_der.hex(), "raw")
    sc("empty", "empty signature", "")

    # ------------------------------------------------------------- decryption
    d = enc_case["d"]
    c1x, c1y = int(enc_case["c1x"], 16), int(enc_case["c1y"], 16)
    c3 = bytes.fromhex(enc_case["c3"])
    c2 = bytes.fromhex(enc_case["c2"])
    assert on_curve(c1x, c1y)

    def cipher_der(x_: int, y_: int, c3_: bytes, c2_: bytes) -> str:
        return der_seq(der_int(x_), der_int(y_), der_tlv(0x04, c3_), der_tlv(0x04, c2_)).hex()

    def c1c3c2(x_: int, y_: int, c3_: bytes, c2_: bytes, prefix: str = "04") -> str:
        return prefix + x_.to_bytes(32, "big").hex() + y_.to_bytes(32, "big").hex() + c3_.hex() + c2_.hex()

    def flip(bs: bytes, i: int) -> bytes:
        out = bytearray(bs)
        out[i] ^= 1
        return bytes(out)

    good_ct = bytes.fromhex(enc_case["ciphertext_der"])
    assert good_ct.hex() == cipher_der(c1x, c1y, c3, c2)
    other_d = hashlib.sha256(b"bidkernel sm2 negative vectors: wrong key").digest()
    other_d_int = int.from_bytes(other_d, "big") % (n - 2) + 1

    dec_cases: list[dict[str, Any]] = []

    def dc(name: str, description: str, ct: str, reason: str | None, fmt: str = "der", key: str = d) -> None:
        dec_cases.append(
            {
                "name": name,
                "description": description,
                "d": key,
                "ct": ct,
                "fmt": fmt,
                "expect": "valid" if reason is None else "invalid",
                **({"msg": enc_case["msg"]} if reason is None else {"reason": reason}),
            }
        )

    dc("control-der", "Annex C ciphertext as given (GM/T 0009 DER): must decrypt", good_ct.hex(), None)
    dc("control-c1c3c2", "Annex C ciphertext, raw C1C3C2: must decrypt", c1c3c2(c1x, c1y, c3, c2), None, "c1c3c2")
    x_flip = c1x ^ 1
    assert not on_curve(x_flip, c1y)
    dc(
        "c1x-tampered",
        "C1.x with its lowest bit flipped (point off the curve)",
        cipher_der(x_flip, c1y, c3, c2),
        "malformed",
    )
    dc("c1y-plus-1", "C1 = (x, y+1): off the curve", cipher_der(c1x, c1y + 1, c3, c2), "malformed")
    dc("c1-negated", "C1 = (x, p-y): on the curve but the wrong point", cipher_der(c1x, p - c1y, c3, c2), "integrity")
    dc(
        "c1-infinity-der",
        "C1 = (0, 0), the usual stand-in for the point at infinity",
        cipher_der(0, 0, c3, c2),
        "malformed",
    )
    dc(
        "c1-infinity-raw",
        "raw ciphertext whose C1 is the SEC1 infinity byte 00",
        ("00" + c3.hex() + c2.hex() + "00" * 64),
        "malformed",
        "c1c3c2",
    )
    dc(
        "c1-compressed-raw",
        "raw ciphertext with a compressed C1 (02||x)",
        ("02" + c1x.to_bytes(32, "big").hex() + c3.hex() + c2.hex()),
        "malformed",
        "c1c3c2",
    )
    dc(
        "c1x-plus-p",
        "C1.x + p (not a canonical field element, 257 bits)",
        cipher_der(c1x + p, c1y, c3, c2),
        "malformed",
    )
    dc(
        "c1y-plus-p",
        "C1.y + p (not a canonical field element, 257 bits)",
        cipher_der(c1x, c1y + p, c3, c2),
        "malformed",
    )
    dc("c2-tampered", "C2 with one bit flipped", cipher_der(c1x, c1y, c3, flip(c2, 3)), "integrity")
    dc("c2-truncated", "C2 missing its last byte", cipher_der(c1x, c1y, c3, c2[:-1]), "integrity")
    dc("c2-extended", "C2 with an extra byte", cipher_der(c1x, c1y, c3, c2 + b"\x00"), "integrity")
    dc("c2-empty", "empty C2", cipher_der(c1x, c1y, c3, b""), "malformed")
    dc("c3-tampered", "C3 with one bit flipped", cipher_der(c1x, c1y, flip(c3, 31), c2), "integrity")
    dc("c3-short", "C3 of 31 bytes", cipher_der(c1x, c1y, c3[:-1], c2), "malformed")
    dc("c3-long", "C3 of 33 bytes", cipher_der(c1x, c1y, c3 + b"\x00", c2), "malformed")
    dc("wrong-key", "a different private key", good_ct.hex(), "integrity", key=f"{other_d_int:064x}")
    dc("der-truncated", "DER ciphertext missing its last byte", good_ct[:-1].hex(), "malformed")
    dc("der-trailing", "DER ciphertext followed by a 00 byte", (good_ct + b"\x00").hex(), "malformed")
    dc(
        "der-long-length",
        "outer length in long form (0x81 0x7c): BER, not DER",
        "3081" + good_ct[1:].hex(),
        "malformed",
    )
    dc(
        "der-swapped-c3-c2",
        "SEQUENCE{x, y, C2, C3}: C1C2C3 order inside the DER",
        der_seq(der_int(c1x), der_int(c1y), der_tlv(0x04, c2), der_tlv(0x04, c3)).hex(),
        "malformed",
    )
    dc(
        "der-x-nonminimal",
        "x with a superfluous leading 00",
        der_seq(
            der_int_raw(b"\x00" + c1x.to_bytes(32, "big")), der_int(c1y), der_tlv(0x04, c3), der_tlv(0x04, c2)
        ).hex(),
        "malformed",
    )
    dc(
        "der-y-negative",
        "y without its sign pad (a negative INTEGER)",
        der_seq(der_int(c1x), der_int_raw(c1y.to_bytes(32, "big")), der_tlv(0x04, c3), der_tlv(0x04, c2)).hex(),
        "malformed",
    )
    dc(
        "raw-c1c3c2-as-c1c2c3",
        "raw C1C3C2 decoded as C1C2C3 (format confusion)",
        c1c3c2(c1x, c1y, c3, c2),
        "integrity",
        "c1c2c3",
    )
    dc(
        "raw-truncated",
        "raw C1C3C2 shorter than C1 + C3 + 1 byte",
        c1c3c2(c1x, c1y, c3, b"")[:-2],
        "malformed",
        "c1c3c2",
    )
    dc("raw-bad-prefix", "raw C1C3C2 with prefix 05", c1c3c2(c1x, c1y, c3, c2, prefix="05"), "malformed", "c1c3c2")
    dc("raw-as-der", "raw C1C3C2 given where DER is expected", c1c3c2(c1x, c1y, c3, c2), "malformed")
    dc("empty", "empty ciphertext", "", "malformed")

    out = {
        "name": "bidkernel SM2 negative vectors",
        "generated_by": "tests/vectors/gen_sm2_negative.py",
        "base": "GB/T 32918.5 Annex A signature and Annex C ciphertext from ../shared/vectors/sm2_gbt32918.json",
        "hex": "lowercase hex, big-endian",
        "curve_n": curve["n"],
        "signature_cases": sig_cases,
        "decryption_cases": dec_cases,
    }
    target = HERE / "sm2_negative.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}: {len(sig_cases)} signature cases, {len(dec_cases)} decryption cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
