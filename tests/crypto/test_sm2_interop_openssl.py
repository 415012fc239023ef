"""Differential tests bidkernel <-> OpenSSL 3 for SM2, both ID conventions.

* The ``openssl`` CLI (a few hundred real round trips: ``pkeyutl`` sign/verify with and without
  ``-pkeyopt distid:1234567812345678``, encrypt/decrypt), and the ``bidkernel sm2`` CLI against it.
* The bulk: 10,000 random sign->verify cases and 10,000 random encrypt->decrypt cases against the
  same OpenSSL through ctypes on libcrypto.so.3 (spawning the CLI 40,000 times would take minutes).
  Each sign/verify case runs both directions (bidkernel signs, OpenSSL verifies; OpenSSL signs,
  bidkernel verifies), alternating the GM/T 0009 default ID (set with EVP_PKEY_CTX_set1_id) and
  OpenSSL's default empty ID; a cross-ID check must fail. Each encryption case runs both directions
  with random plaintexts of 1..300 bytes. Keys change every 50 cases; messages are 0..200 random
  bytes from a seeded generator (seed printed on failure).

``BIDKERNEL_SM2_DIFF_CASES`` scales the bulk counts down for a quick local run (default 10000).
Measured on the shared 2-core workplace machine: 65-68 s for the whole file (10,000 cases each).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from bidkernel.cli.main import build_cli
from bidkernel.crypto import sm2


def _helper() -> ModuleType:
    name = "bidkernel_tests_openssl_sm2"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("openssl_sm2.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


ossl = _helper()
OPENSSL = shutil.which("openssl")
CASES = int(os.environ.get("BIDKERNEL_SM2_DIFF_CASES", "10000"))
SEED = int(os.environ.get("BIDKERNEL_SM2_DIFF_SEED", "20261123"))
needs_cli = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
needs_lib = pytest.mark.skipif(ossl.LIB is None, reason="libcrypto.so.3 with SM2 not found")


def _openssl(*args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OPENSSL or "openssl", *args], input=input, capture_output=True, check=check)


# ------------------------------------------------------------------ openssl CLI


@needs_cli
def test_cli_sign_verify_both_directions_both_ids(tmp_path: Path) -> None:
    """60 keys x (2 IDs x 2 directions) + cross-ID failures: 360 openssl processes."""
    rng = random.Random(SEED)
    for i in range(60):
        key = sm2.generate_private_key()
        kf, pf, mf, sf = (tmp_path / n for n in ("k.pem", "p.pem", "m", "s"))
        kf.write_bytes(key.to_pkcs8())
        pf.write_bytes(sm2.public_key_to_spki(key.public_key()))
        msg = rng.randbytes(rng.randrange(0, 300))
        mf.write_bytes(msg)
        default = i % 2 == 0
        distid = ["-pkeyopt", "distid:1234567812345678"] if default else []
        ident = sm2.DEFAULT_ID if default else b""
        # bidkernel signs, openssl verifies
        sf.write_bytes(sm2.sign(key, msg, id=ident))
        base = ["pkeyutl", "-rawin", "-digest", "sm3", "-in", str(mf)]
        r = _openssl(*base, "-verify", "-pubin", "-inkey", str(pf), "-sigfile", str(sf), *distid, check=False)
        assert r.returncode == 0 and b"Verified Successfully" in r.stdout, (i, r.stderr)
        # cross-ID must fail in openssl
        other = [] if default else ["-pkeyopt", "distid:1234567812345678"]
        r = _openssl(*base, "-verify", "-pubin", "-inkey", str(pf), "-sigfile", str(sf), *other, check=False)
        assert r.returncode != 0, i
        # openssl signs, bidkernel verifies
        sig = _openssl(*base, "-sign", "-inkey", str(kf), *distid).stdout
        assert sm2.verify(key.public_key(), msg, sig, id=ident), i
        assert not sm2.verify(key.public_key(), msg, sig, id=b"" if default else sm2.DEFAULT_ID), i


@needs_cli
def test_cli_encrypt_decrypt_both_directions(tmp_path: Path) -> None:
    """40 keys x 2 directions: 80 openssl processes (plus key generation by openssl for half)."""
    rng = random.Random(SEED + 1)
    for i in range(40):
        kf, pf, cf = (tmp_path / n for n in ("k.pem", "p.pem", "c"))
        if i % 2:
            kf.write_bytes(_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2").stdout)
            pf.write_bytes(_openssl("pkey", "-in", str(kf), "-pubout").stdout)
            key = sm2.load_private_key(kf.read_bytes())
        else:
            key = sm2.generate_private_key()
            kf.write_bytes(key.to_sec1())
            pf.write_bytes(sm2.public_key_to_spki(key.public_key(), pem=False))
        msg = rng.randbytes(rng.randrange(1, 400))
        cf.write_bytes(sm2.encrypt(sm2.load_public_key(pf.read_bytes()), msg))
        assert _openssl("pkeyutl", "-decrypt", "-inkey", str(kf), "-in", str(cf)).stdout == msg, i
        pubform = ["-pubin", "-inkey", str(pf)] + ([] if i % 2 else ["-keyform", "DER"])
        ct = _openssl("pkeyutl", "-encrypt", *pubform, input=msg).stdout
        assert sm2.decrypt(key, ct) == msg, i
        assert sm2.decrypt(key, sm2.convert_ciphertext(ct, "der", "c1c2c3"), fmt="c1c2c3") == msg


@needs_cli
def test_bidkernel_cli_against_openssl(tmp_path: Path) -> None:
    """The `bidkernel sm2` commands read openssl's keys and outputs, and openssl reads ours."""
    runner = CliRunner()
    cli = build_cli()
    k, p, m, s, c, o = (str(tmp_path / n) for n in ("k.pem", "p.pem", "m", "s", "c", "o"))
    Path(k).write_bytes(_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2").stdout)
    Path(p).write_bytes(_openssl("pkey", "-in", k, "-pubout").stdout)
    Path(m).write_bytes(b"tender 2026-001 bid document digest")
    for ident_args, distid in (([], ["-pkeyopt", "distid:1234567812345678"]), (["--id", ""], [])):
        res = runner.invoke(cli, ["sm2", "sign", "--key", k, *ident_args, "-i", m, "-o", s])
        assert res.exit_code == 0, res.output
        r = _openssl(
            "pkeyutl",
            "-verify",
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            m,
            "-pubin",
            "-inkey",
            p,
            "-sigfile",
            s,
            *distid,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        Path(s).write_bytes(
            _openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-in", m, "-inkey", k, *distid).stdout
        )
        res = runner.invoke(cli, ["sm2", "verify", "--pub", p, *ident_args, "--sig", s, "-i", m])
        assert res.exit_code == 0 and "OK" in res.output, res.output
        wrong = ["--id", ""] if not ident_args else []
        res = runner.invoke(cli, ["sm2", "verify", "--pub", p, *wrong, "--sig", s, "-i", m])
        assert res.exit_code == 1 and "failure" in res.output.lower(), res.output
    res = runner.invoke(cli, ["sm2", "encrypt", "--pub", p, "-i", m, "-o", c])
    assert res.exit_code == 0, res.output
    assert _openssl("pkeyutl", "-decrypt", "-inkey", k, "-in", c).stdout == Path(m).read_bytes()
    Path(c).write_bytes(_openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", p, "-in", m).stdout)
    res = runner.invoke(cli, ["sm2", "decrypt", "--key", k, "-i", c, "-o", o])
    assert res.exit_code == 0, res.output
    assert Path(o).read_bytes() == Path(m).read_bytes()
    # Failures: clear message, exit 1, no output file.
    Path(c).write_bytes(Path(c).read_bytes()[:-1])
    res = runner.invoke(cli, ["sm2", "decrypt", "--key", k, "-i", c, "-o", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "Decryption failure" in res.output
    assert not (tmp_path / "nope").exists()
    res = runner.invoke(cli, ["sm2", "sign", "--key", m, "-i", m, "-o", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "not an SM2" in res.output
    assert not (tmp_path / "nope").exists()
    # keygen writes keys openssl reads
    kk, pp = str(tmp_path / "g.pem"), str(tmp_path / "g.pub")
    res = runner.invoke(cli, ["sm2", "keygen", "-o", kk, "--pubout", pp])
    assert res.exit_code == 0, res.output
    assert _openssl("pkey", "-in", kk, "-pubout").stdout == Path(pp).read_bytes()
    assert oct(Path(kk).stat().st_mode & 0o777) == "0o600"
    for fmt in ("c1c3c2", "c1c2c3"):
        res = runner.invoke(cli, ["sm2", "encrypt", "--pub", pp, "--format", fmt, "-i", m, "-o", c])
        assert res.exit_code == 0
        res = runner.invoke(cli, ["sm2", "decrypt", "--key", kk, "--format", fmt, "-i", c, "-o", o])
        assert res.exit_code == 0 and Path(o).read_bytes() == Path(m).read_bytes()
        res = runner.invoke(cli, ["sm2", "decrypt", "--key", kk, "-i", c, "-o", o + "x"])
        assert res.exit_code == 1 and not Path(o + "x").exists()


# ------------------------------------------------------------------ libcrypto bulk (ctypes)


@needs_lib
def test_libcrypto_sign_verify_bulk() -> None:
    rng = random.Random(SEED + 2)
    failures: list[str] = []
    key = sm2.generate_private_key()
    okey = ossl.OsslKey(key.to_pkcs8())
    opub = ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)
    for i in range(CASES):
        if i % 50 == 0 and i:
            key = sm2.generate_private_key()
            okey = ossl.OsslKey(key.to_pkcs8())
            opub = ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)
        pub = key.public_key()
        msg = rng.randbytes(rng.randrange(0, 200))
        default = i % 2 == 0
        ident = sm2.DEFAULT_ID if default else b""
        ossl_id = sm2.DEFAULT_ID if default else None  # None: OpenSSL's own default (empty)
        ours = sm2.sign(key, msg, id=ident)
        if not opub.verify(msg, ours, ossl_id):
            failures.append(f"case {i}: OpenSSL rejected our signature")
        theirs = okey.sign(msg, ossl_id)
        if not sm2.verify(pub, msg, theirs, id=ident):
            failures.append(f"case {i}: we rejected OpenSSL's signature")
        if i % 10 == 0:  # cross-ID checks on a tenth of the cases
            if opub.verify(msg, ours, None if default else sm2.DEFAULT_ID):
                failures.append(f"case {i}: OpenSSL accepted a cross-ID signature")
            if sm2.verify(pub, msg, theirs, id=b"" if default else sm2.DEFAULT_ID):
                failures.append(f"case {i}: we accepted a cross-ID signature")
    assert not failures, (SEED, failures[:10], len(failures))


@needs_lib
def test_libcrypto_encrypt_decrypt_bulk() -> None:
    rng = random.Random(SEED + 3)
    failures: list[str] = []
    key = sm2.generate_private_key()
    okey = ossl.OsslKey(key.to_pkcs8())
    opub = ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)
    for i in range(CASES):
        if i % 50 == 0 and i:
            key = sm2.generate_private_key()
            okey = ossl.OsslKey(key.to_pkcs8())
            opub = ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)
        msg = rng.randbytes(rng.randrange(1, 300))
        ours = sm2.encrypt(key.public_key(), msg)
        if okey.decrypt(ours) != msg:
            failures.append(f"case {i}: OpenSSL could not decrypt our ciphertext")
        theirs = opub.encrypt(msg)
        try:
            if sm2.decrypt(key, theirs) != msg:
                failures.append(f"case {i}: wrong plaintext from OpenSSL's ciphertext")
        except sm2.Sm2DecryptionError as exc:
            failures.append(f"case {i}: we rejected OpenSSL's ciphertext ({exc.reason})")
    assert not failures, (SEED, failures[:10], len(failures))


@needs_lib
def test_libcrypto_decrypt_many_of_openssl_ciphertexts() -> None:
    """OpenSSL wraps 500 content keys; one decrypt_many call unwraps them (plus tampered ones)."""
    key = sm2.generate_private_key()
    opub = ossl.OsslKey(sm2.public_key_to_spki(key.public_key()), public=True)
    cks = [os.urandom(16) for _ in range(500)]
    cts = [opub.encrypt(ck) for ck in cks]
    cts[17] = cts[17][:-1] + bytes([cts[17][-1] ^ 1])
    out = sm2.decrypt_many(key, cts)
    for i, (ck, r) in enumerate(zip(cks, out, strict=True)):
        if i == 17:
            assert isinstance(r, sm2.Sm2DecryptionError) and r.reason == "integrity"
        else:
            assert r == ck, i
