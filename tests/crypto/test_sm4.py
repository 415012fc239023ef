"""SM4 through the Python API: GB/T and Wycheproof GCM/CCM vectors (read from the files), CBC
padding errors without an oracle, streaming files, batches, and differential tests against
pyca/cryptography (OpenSSL)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from bidkernel.crypto import sm4
from bidkernel.crypto.errors import CryptoError, InvalidKey, InvalidPadding, InvalidTag

KEY = bytes(range(16))


def _wycheproof(vectors_dir: Path, name: str) -> list[dict[str, Any]]:
    doc = json.loads((vectors_dir / "wycheproof" / name).read_text())
    out = [t for g in doc["testGroups"] for t in g["tests"]]
    assert len(out) == doc["numberOfTests"]
    return out


def _hx(t: dict[str, Any], *names: str) -> list[bytes]:
    return [bytes.fromhex(t[n]) for n in names]


# ---------------------------------------------------------------- reference (OpenSSL via cryptography)


def _ref(mode: Any, key: bytes, data: bytes, decrypt: bool = False) -> bytes:
    c = Cipher(algorithms.SM4(key), mode)
    ctx = c.decryptor() if decrypt else c.encryptor()
    return ctx.update(data) + ctx.finalize()


def _ref_cbc_pkcs7(key: bytes, iv: bytes, data: bytes) -> bytes:
    p = PKCS7(128).padder()
    return _ref(modes.CBC(iv), key, p.update(data) + p.finalize())


def _ref_gcm(key: bytes, iv: bytes, data: bytes, aad: bytes) -> tuple[bytes, bytes]:
    enc = Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(data) + enc.finalize()
    return ct, enc.tag


# ---------------------------------------------------------------- vectors


def test_gbt32907_vectors(vectors_dir: Path) -> None:
    cases = json.loads((vectors_dir / "sm4_gbt32907.json").read_text())["cases"]
    seen = set()
    for c in cases:
        key, pt, ct = (bytes.fromhex(c[k]) for k in ("key", "pt", "ct"))
        mode = c["mode"]
        seen.add(mode)
        if mode == "ecb":
            assert sm4.encrypt_block(key, pt) == ct
            assert sm4.decrypt_block(key, ct) == pt
        elif mode == "ecb-iterated":
            b = pt
            for _ in range(c["iterations"]):
                b = sm4.encrypt_block(key, b)
            assert b == ct
        elif mode == "cbc":
            iv = bytes.fromhex(c["iv"])
            assert c["padding"] == "none"
            assert sm4.cbc_encrypt(key, iv, pt, padding=False) == ct
            assert sm4.cbc_decrypt(key, iv, ct, padding=False) == pt
        elif mode == "ctr":
            iv = bytes.fromhex(c["iv"])
            assert sm4.ctr_encrypt(key, iv, pt) == ct
            assert sm4.ctr_decrypt(key, iv, ct) == pt
        else:
            pytest.fail(f"unknown mode {mode} in the vector file")
    assert seen == {"ecb", "ecb-iterated", "cbc", "ctr"}


def test_gcm_wycheproof_all_iv_lengths(vectors_dir: Path) -> None:
    counts = {"valid": 0, "invalid": 0}
    for t in _wycheproof(vectors_dir, "sm4_gcm_test.json"):
        key, iv, aad, msg, ct, tag = _hx(t, "key", "iv", "aad", "msg", "ct", "tag")
        if t["result"] == "valid":
            assert sm4.gcm_encrypt(key, iv, msg, aad=aad) == (ct, tag), t["tcId"]
            assert sm4.gcm_decrypt(key, iv, ct, tag, aad=aad) == msg, t["tcId"]
        else:
            assert t["result"] == "invalid"
            # ModifiedTag -> InvalidTag; ZeroLengthIv -> rejected before any decryption (ValueError)
            expected = ValueError if "ZeroLengthIv" in t["flags"] else InvalidTag
            with pytest.raises(expected):
                sm4.gcm_decrypt(key, iv, ct, tag, aad=aad)
            if "ZeroLengthIv" in t["flags"]:
                with pytest.raises(ValueError):
                    sm4.gcm_encrypt(key, iv, msg, aad=aad)
        counts[t["result"]] += 1
    assert counts == {"valid": 75, "invalid": 29}


def test_ccm_wycheproof(vectors_dir: Path) -> None:
    counts = {"valid": 0, "invalid": 0}
    for t in _wycheproof(vectors_dir, "sm4_ccm_test.json"):
        key, iv, aad, msg, ct, tag = _hx(t, "key", "iv", "aad", "msg", "ct", "tag")
        if t["result"] == "valid":
            assert sm4.ccm_encrypt(key, iv, msg, tag_size=len(tag), aad=aad) == (ct, tag), t["tcId"]
            assert sm4.ccm_decrypt(key, iv, ct, tag, aad=aad) == msg, t["tcId"]
        else:
            assert t["result"] == "invalid"
            # ModifiedTag -> InvalidTag; invalid nonce or tag sizes -> ValueError before decrypting
            expected = InvalidTag if t["flags"] == ["ModifiedTag"] else ValueError
            with pytest.raises(expected):
                sm4.ccm_decrypt(key, iv, ct, tag, aad=aad)
        counts[t["result"]] += 1
    assert counts == {"valid": 135, "invalid": 49}


# ---------------------------------------------------------------- errors


def test_wrong_key_length_raises_invalid_key_without_key_material() -> None:
    secret = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f")  # 15 bytes
    for call in (
        lambda: sm4.encrypt_block(secret, bytes(16)),
        lambda: sm4.cbc_encrypt(secret, bytes(16), b"x"),
        lambda: sm4.ctr_encrypt(secret, bytes(16), b"x"),
        lambda: sm4.gcm_encrypt(secret, bytes(12), b"x"),
        lambda: sm4.ccm_encrypt(secret, bytes(12), b"x"),
    ):
        with pytest.raises(InvalidKey) as ei:
            call()
        assert isinstance(ei.value, CryptoError)
        assert secret.hex() not in str(ei.value) and "a1b2" not in repr(ei.value)


def test_bad_iv_and_tag_lengths_are_value_errors() -> None:
    with pytest.raises(ValueError):
        sm4.cbc_encrypt(KEY, bytes(15), b"x")
    with pytest.raises(ValueError):
        sm4.ctr_encrypt(KEY, bytes(12), b"x")
    with pytest.raises(ValueError):
        sm4.gcm_encrypt(KEY, b"", b"x")
    ct, tag = sm4.gcm_encrypt(KEY, bytes(12), b"x")
    with pytest.raises(ValueError):
        sm4.gcm_decrypt(KEY, bytes(12), ct, tag[:12])
    with pytest.raises(ValueError):
        sm4.cbc_encrypt(KEY, bytes(16), b"seventeen bytes!!", padding=False)
    with pytest.raises(ValueError):
        sm4.ccm_encrypt(KEY, bytes(12), b"x", tag_size=5)


def test_cbc_padding_failures_are_one_generic_error() -> None:
    iv = bytes(16)
    messages = set()
    bad_inputs = [b"", b"short", bytes(17)]
    # valid length, every wrong final padding byte value
    for p in [0, 17, 200]:
        bad_inputs.append(sm4.cbc_encrypt(KEY, iv, bytes([p]) * 16, padding=False))
    # inconsistent padding bytes
    bad_inputs.append(sm4.cbc_encrypt(KEY, iv, bytes(13) + b"\x01\x03\x03", padding=False))
    for ct in bad_inputs:
        with pytest.raises(InvalidPadding) as ei:
            sm4.cbc_decrypt(KEY, iv, ct)
        messages.add(str(ei.value))
    assert messages == {"decryption failed"}


def test_gcm_tamper_and_wrong_aad_raise_invalid_tag() -> None:
    ct, tag = sm4.gcm_encrypt(KEY, bytes(12), b"sealed bid", aad=b"tender-1")
    with pytest.raises(InvalidTag):
        sm4.gcm_decrypt(KEY, bytes(12), ct, tag, aad=b"tender-2")
    for i in range(len(ct)):
        bad = bytearray(ct)
        bad[i] ^= 0x01
        with pytest.raises(InvalidTag):
            sm4.gcm_decrypt(KEY, bytes(12), bytes(bad), tag, aad=b"tender-1")


# ---------------------------------------------------------------- differential (>= 10,000 cases each)

_BOUNDARY = [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 1024]


def _length(rng: random.Random, i: int) -> int:
    return _BOUNDARY[i % len(_BOUNDARY)] if i % 2 == 0 else rng.randrange(0, 1100)


def test_differential_cbc_against_cryptography_10000_cases() -> None:
    rng = random.Random(0xCBC)
    for i in range(10_000):
        key, iv, data = rng.randbytes(16), rng.randbytes(16), rng.randbytes(_length(rng, i))
        ref = _ref_cbc_pkcs7(key, iv, data)
        assert sm4.cbc_encrypt(key, iv, data) == ref
        assert sm4.cbc_decrypt(key, iv, ref) == data
        if len(data) % 16 == 0:
            raw = _ref(modes.CBC(iv), key, data)
            assert sm4.cbc_encrypt(key, iv, data, padding=False) == raw
            assert sm4.cbc_decrypt(key, iv, raw, padding=False) == data


def test_differential_ctr_against_cryptography_10000_cases() -> None:
    rng = random.Random(0xC7)
    for i in range(10_000):
        key, data = rng.randbytes(16), rng.randbytes(_length(rng, i))
        # every 5th counter starts near the 128-bit wrap
        iv = (b"\xff" * 15 + bytes([rng.randrange(250, 256)])) if i % 5 == 0 else rng.randbytes(16)
        assert sm4.ctr_encrypt(key, iv, data) == _ref(modes.CTR(iv), key, data)


def test_differential_gcm_against_cryptography_10000_cases() -> None:
    rng = random.Random(0x6C)
    for i in range(10_000):
        key, data = rng.randbytes(16), rng.randbytes(_length(rng, i))
        # cryptography accepts IVs of 8..128 bytes; 12 is the common case
        iv = rng.randbytes(12 if i % 3 else rng.randrange(8, 65))
        aad = rng.randbytes(rng.choice([0, 0, 1, 13, 16, 17, 40]))
        ct, tag = _ref_gcm(key, iv, data, aad)
        assert sm4.gcm_encrypt(key, iv, data, aad=aad) == (ct, tag)
        assert sm4.gcm_decrypt(key, iv, ct, tag, aad=aad) == data


# ---------------------------------------------------------------- streaming objects


def test_streaming_objects_equal_one_shot_at_random_splits() -> None:
    rng = random.Random(12)
    for _ in range(200):
        key, iv, aad = rng.randbytes(16), rng.randbytes(16), rng.randbytes(rng.randrange(0, 40))
        data = rng.randbytes(rng.randrange(0, 2000))
        cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(0, 6)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

        enc = sm4.cbc_encryptor(key, iv)
        ct = b"".join(enc.update(p) for p in pieces) + enc.finalize()
        assert ct == sm4.cbc_encrypt(key, iv, data)
        dec = sm4.cbc_decryptor(key, iv)
        assert b"".join(dec.update(ct[i : i + 7]) for i in range(0, len(ct), 7)) + dec.finalize() == data

        ctr = sm4.ctr_stream(key, iv)
        assert b"".join(ctr.update(p) for p in pieces) == sm4.ctr_encrypt(key, iv, data)

        g = sm4.gcm_encryptor(key, iv[:12])
        g.update_aad(aad)
        gct = b"".join(g.update(p) for p in pieces)
        tag = g.finalize()
        assert (gct, tag) == sm4.gcm_encrypt(key, iv[:12], data, aad=aad)
        gd = sm4.gcm_decryptor(key, iv[:12])
        gd.update_aad(aad)
        assert gd.update(gct) == data
        gd.verify(tag)


def test_streaming_objects_failures() -> None:
    with pytest.raises(InvalidKey):
        sm4.cbc_encryptor(KEY[:5], bytes(16))
    with pytest.raises(ValueError):
        sm4.gcm_encryptor(KEY, b"")
    dec = sm4.cbc_decryptor(KEY, bytes(16))
    dec.update(bytes(17))
    with pytest.raises(InvalidPadding):
        dec.finalize()
    with pytest.raises(ValueError, match="finalized"):
        dec.update(b"x")
    g = sm4.gcm_encryptor(KEY, bytes(12))
    ct = g.update(b"bid")
    tag = g.finalize()
    with pytest.raises(ValueError):
        g.finalize()
    gd = sm4.gcm_decryptor(KEY, bytes(12))
    gd.update(ct)
    with pytest.raises(InvalidTag):
        gd.verify(bytes(16))
    gd2 = sm4.gcm_decryptor(KEY, bytes(12))
    gd2.update(ct)
    with pytest.raises(ValueError):
        gd2.finalize()  # a decryption stream ends with verify(tag)
    gd2.verify(tag)
    late = sm4.gcm_encryptor(KEY, bytes(12))
    late.update(b"x")
    with pytest.raises(ValueError):
        late.update_aad(b"too late")


# ---------------------------------------------------------------- files


@pytest.mark.parametrize("mode", ["cbc", "ctr", "gcm"])
def test_file_round_trip_matches_one_shot_and_reference(mode: sm4.Mode, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 7)  # several 1 MiB pieces and a tail
    iv = os.urandom(12 if mode == "gcm" else 16)
    aad = b"tender 2026-001" if mode == "gcm" else b""
    src, enc, dec = tmp_path / "plain", tmp_path / "enc", tmp_path / "dec"
    src.write_bytes(data)
    n = sm4.encrypt_file(mode, KEY, iv, src, enc, aad=aad)
    ct = enc.read_bytes()
    assert n == len(ct)
    if mode == "cbc":
        assert ct == _ref_cbc_pkcs7(KEY, iv, data) == sm4.cbc_encrypt(KEY, iv, data)
    elif mode == "ctr":
        assert ct == _ref(modes.CTR(iv), KEY, data) == sm4.ctr_encrypt(KEY, iv, data)
    else:
        c, t = _ref_gcm(KEY, iv, data, aad)
        assert ct == c + t
    assert sm4.decrypt_file(mode, KEY, iv, enc, dec, aad=aad) == len(data)
    assert dec.read_bytes() == data
    # Outputs are created private to their owner (decrypted bids are not for every local user).
    assert (dec.stat().st_mode & 0o777) == 0o600
    assert (enc.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("mode", ["cbc", "gcm"])
@pytest.mark.parametrize("damage", ["flip-last", "flip-first", "truncate", "wrong-key"])
def test_file_decrypt_failure_leaves_no_output(mode: sm4.Mode, damage: str, tmp_path: Path) -> None:
    # Seeded: a damaged CBC last block keeps valid padding for ~1/256 of random inputs; these don't.
    rng = random.Random(41)
    data = rng.randbytes(3 * 1024 * 1024 + 100)
    iv = rng.randbytes(12 if mode == "gcm" else 16)
    src, enc, dec = tmp_path / "plain", tmp_path / "enc", tmp_path / "dec"
    src.write_bytes(data)
    sm4.encrypt_file(mode, KEY, iv, src, enc)
    ct = bytearray(enc.read_bytes())
    key = KEY
    if damage == "flip-last":
        ct[-1] ^= 0x40
    elif damage == "flip-first":
        ct[0] ^= 0x40
    elif damage == "truncate":
        del ct[-5:]
    else:
        key = bytes(16)
    enc.write_bytes(bytes(ct))
    if mode == "cbc" and damage == "flip-first":
        # CBC has no integrity: a flipped first block decrypts to garbage, padding stays valid.
        sm4.decrypt_file(mode, key, iv, enc, dec)
        assert dec.read_bytes() != data
        return
    with pytest.raises((InvalidTag, InvalidPadding)):
        sm4.decrypt_file(mode, key, iv, enc, dec)
    assert not dec.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc", "plain"]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sm4.encrypt_file("ctr", KEY, bytes(16), tmp_path / "missing", tmp_path / "out")
    (tmp_path / "in").write_bytes(b"x")
    with pytest.raises(InvalidKey):
        sm4.encrypt_file("ctr", KEY[:8], bytes(16), tmp_path / "in", tmp_path / "out")
    with pytest.raises(ValueError):
        sm4.encrypt_file("ofb", KEY, bytes(16), tmp_path / "in", tmp_path / "out")  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- batch


def test_batch_with_bad_items_in_the_middle(tmp_path: Path) -> None:
    rng = random.Random(77)
    items: list[sm4.DecryptItem] = []
    expected: list[Any] = []
    for i in range(60):
        key, data = rng.randbytes(16), rng.randbytes(rng.randrange(0, 3000))
        mode: sm4.Mode = ("cbc", "ctr", "gcm")[i % 3]
        iv = rng.randbytes(12 if mode == "gcm" else 16)
        if mode == "cbc":
            ct = sm4.cbc_encrypt(key, iv, data)
        elif mode == "ctr":
            ct = sm4.ctr_encrypt(key, iv, data)
        else:
            c, t = sm4.gcm_encrypt(key, iv, data, aad=b"a")
            ct = c + t
        if i % 4 == 1:  # from a file
            p = tmp_path / f"ct{i}"
            p.write_bytes(ct)
            items.append(sm4.DecryptItem(key=key, mode=mode, iv=iv, path=p, aad=b"a" if mode == "gcm" else b""))
        else:
            items.append(sm4.DecryptItem(key=key, mode=mode, iv=iv, data=ct, aad=b"a" if mode == "gcm" else b""))
        expected.append(data)
    # bad items in the middle
    good_key = items[30].key
    items[30] = sm4.DecryptItem(key=good_key[:10], mode="ctr", iv=bytes(16), data=b"abc")
    expected[30] = InvalidKey
    gcm_item = items[32]
    assert gcm_item.mode == "gcm" and gcm_item.data is not None
    tampered = bytearray(gcm_item.data)
    tampered[0] ^= 1
    items[32] = sm4.DecryptItem(key=gcm_item.key, mode="gcm", iv=gcm_item.iv, data=bytes(tampered), aad=b"a")
    expected[32] = InvalidTag
    items[33] = sm4.DecryptItem(key=KEY, mode="cbc", iv=bytes(16), path=tmp_path / "missing")
    expected[33] = FileNotFoundError
    items[34] = sm4.DecryptItem(key=KEY, mode="cbc", iv=bytes(16), data=b"0123456789")
    expected[34] = InvalidPadding
    items[35] = sm4.DecryptItem(key=KEY, mode="xts", iv=bytes(16), data=b"x")  # type: ignore[arg-type]
    expected[35] = ValueError
    items[36] = sm4.DecryptItem(key=KEY, mode="ctr", iv=bytes(16))  # neither data nor path
    expected[36] = ValueError
    # an item streamed to an output file
    out = tmp_path / "plain37"
    it = items[37]
    items[37] = sm4.DecryptItem(key=it.key, mode=it.mode, iv=it.iv, data=it.data, path=it.path, out=out, aad=it.aad)
    res = sm4.decrypt_batch(items)
    assert len(res) == len(items)
    for i, (r, want) in enumerate(zip(res, expected, strict=True)):
        if i == 37:
            assert r == len(want) and out.read_bytes() == want
        elif isinstance(want, type):
            assert isinstance(r, want), (i, r)
            if i == 36:
                assert "exactly one of data or path" in str(r)
        else:
            assert r == want, i
    assert sm4.decrypt_batch([]) == []


def test_batch_in_memory_items_at_edge_lengths() -> None:
    """In-memory items are decrypted straight into new ``bytes`` objects: empty plaintexts, CBC's
    padding (a shorter result), GCM tags apart or appended, and too-short GCM data."""
    rng = random.Random(5)
    items: list[sm4.DecryptItem] = []
    expected: list[Any] = []
    for n in (0, 1, 15, 16, 17, 4096, 100_003):
        data = rng.randbytes(n)
        iv16, iv12 = rng.randbytes(16), rng.randbytes(12)
        items.append(sm4.DecryptItem(key=KEY, mode="cbc", iv=iv16, data=sm4.cbc_encrypt(KEY, iv16, data)))
        items.append(sm4.DecryptItem(key=KEY, mode="ctr", iv=iv16, data=sm4.ctr_encrypt(KEY, iv16, data)))
        c, t = sm4.gcm_encrypt(KEY, iv12, data, aad=b"h")
        items.append(sm4.DecryptItem(key=KEY, mode="gcm", iv=iv12, data=c + t, aad=b"h"))
        items.append(sm4.DecryptItem(key=KEY, mode="gcm", iv=iv12, data=c, tag=t, aad=b"h"))
        expected += [data] * 4
    items.append(sm4.DecryptItem(key=KEY, mode="gcm", iv=bytes(12), data=bytes(15)))  # shorter than a tag
    expected.append(InvalidTag)
    items.append(sm4.DecryptItem(key=KEY, mode="cbc", iv=bytes(16), data=bytes(16)))  # bad padding
    expected.append(InvalidPadding)
    res = sm4.decrypt_batch(items)
    for i, (r, want) in enumerate(zip(res, expected, strict=True)):
        if isinstance(want, type):
            assert isinstance(r, want), (i, r)
        else:
            assert type(r) is bytes and r == want, i


def test_batch_rechecks_the_ciphertext_digest(tmp_path: Path) -> None:
    from bidkernel.crypto.errors import DecryptionError
    from bidkernel.crypto.sm3 import sm3

    data = os.urandom(2 * 1024 * 1024 + 9)
    ct, tag = sm4.gcm_encrypt(KEY, bytes(12), data)
    stored = ct + tag
    digest = sm3(stored)
    wrong = bytes([digest[0] ^ 1]) + digest[1:]
    p = tmp_path / "bid.enc"
    p.write_bytes(stored)
    out_ok, out_bad = tmp_path / "ok", tmp_path / "bad"
    items = [
        sm4.DecryptItem(key=KEY, mode="gcm", iv=bytes(12), data=stored, expect_sm3=digest),
        sm4.DecryptItem(key=KEY, mode="gcm", iv=bytes(12), data=stored, expect_sm3=wrong),
        sm4.DecryptItem(key=KEY, mode="gcm", iv=bytes(12), path=p, out=out_ok, expect_sm3=digest),
        sm4.DecryptItem(key=KEY, mode="gcm", iv=bytes(12), path=p, out=out_bad, expect_sm3=wrong),
    ]
    res = sm4.decrypt_batch(items)
    assert res[0] == data
    assert isinstance(res[1], DecryptionError) and "digest" in str(res[1])
    assert res[2] == len(data) and out_ok.read_bytes() == data
    assert isinstance(res[3], DecryptionError)
    assert not out_bad.exists()


def test_decrypt_item_repr_hides_key() -> None:
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    item = sm4.DecryptItem(key=key, mode="ctr", iv=bytes(16), data=b"x")
    assert "00112233" not in repr(item) and repr(key) not in repr(item)


def test_file_encryption_streams_without_loading_the_file(tmp_path: Path) -> None:
    """GCM-encrypting and -decrypting a 128 MiB (sparse) file keeps peak RSS far below its size."""
    import subprocess
    import sys

    src = tmp_path / "sparse.bin"
    with src.open("wb") as f:
        f.truncate(128 * 1024 * 1024)
    code = (
        "import resource, sys\n"
        "from bidkernel.crypto import sm4\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "k, iv = bytes(range(16)), bytes(12)\n"
        "n = sm4.encrypt_file('gcm', k, iv, sys.argv[1], sys.argv[2])\n"
        "m = sm4.decrypt_file('gcm', k, iv, sys.argv[2], sys.argv[3])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "assert (n, m) == (128 * 2**20 + 16, 128 * 2**20), (n, m)\n"
        "print(after - before)\n"
    )
    enc, dec = tmp_path / "enc", tmp_path / "dec"
    r = subprocess.run([sys.executable, "-c", code, str(src), str(enc), str(dec)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    grew_kib = int(r.stdout.strip())
    assert grew_kib < 32 * 1024, f"peak RSS grew by {grew_kib} KiB while streaming a 128 MiB file"
    with dec.open("rb") as f:
        while chunk := f.read(1 << 22):
            assert chunk == bytes(len(chunk))
