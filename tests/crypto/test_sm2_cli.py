"""`bidkernel sm2` without openssl: key formats, stdin/stdout, --id-hex, failure exits (the openssl round trips are in
test_sm2_interop_openssl.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bidkernel.cli.main import build_cli
from bidkernel.crypto import sm2


def test_keygen_variants_and_pubkey(tmp_path: Path) -> None:
    runner, cli = CliRunner(), build_cli()
    for extra, head in (([], b"-----BEGIN PRIVATE KEY-----"), (["--sec1"], b"-----BEGIN EC PRIVATE KEY-----")):
        res = runner.invoke(cli, ["sm2", "keygen", *extra])
        assert res.exit_code == 0 and res.stdout_bytes.startswith(head)
    k = tmp_path / "k.der"
    res = runner.invoke(cli, ["sm2", "keygen", "--der", "-o", str(k)])
    assert res.exit_code == 0
    key = sm2.load_private_key(k.read_bytes())
    res = runner.invoke(cli, ["sm2", "pubkey", "--key", str(k), "--raw"])
    assert res.exit_code == 0 and res.stdout_bytes == key.public_key()
    res = runner.invoke(cli, ["sm2", "pubkey", "--key", str(k)])
    assert sm2.load_public_key(res.stdout_bytes) == key.public_key()


def test_sign_verify_stdin_and_id_hex(tmp_path: Path) -> None:
    runner, cli = CliRunner(), build_cli()
    k, s = tmp_path / "k.pem", tmp_path / "s"
    key = sm2.generate_private_key()
    k.write_bytes(key.to_pkcs8())
    res = runner.invoke(
        cli, ["sm2", "sign", "--key", str(k), "--id-hex", "00ff", "--format", "raw", "-o", str(s)], input=b"bid"
    )
    assert res.exit_code == 0, res.output
    assert sm2.verify(key.public_key(), b"bid", s.read_bytes(), id=b"\x00\xff", fmt="raw")
    ok = runner.invoke(
        cli, ["sm2", "verify", "--key", str(k), "--id-hex", "00ff", "--format", "raw", "--sig", str(s)], input=b"bid"
    )
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = runner.invoke(cli, ["sm2", "verify", "--key", str(k), "--format", "raw", "--sig", str(s), "-q"], input=b"bid")
    assert bad.exit_code == 1 and bad.output == ""
    both = runner.invoke(cli, ["sm2", "verify", "--sig", str(s)], input=b"bid")
    assert both.exit_code == 2 and "exactly one of --pub or --key" in both.output
    clash = runner.invoke(cli, ["sm2", "sign", "--key", str(k), "--id", "a", "--id-hex", "61"], input=b"bid")
    assert clash.exit_code == 2


def test_encrypt_empty_input_fails_cleanly(tmp_path: Path) -> None:
    runner, cli = CliRunner(), build_cli()
    p, out = tmp_path / "p.pem", tmp_path / "c"
    p.write_bytes(sm2.public_key_to_spki(sm2.generate_private_key().public_key()))
    res = runner.invoke(cli, ["sm2", "encrypt", "--pub", str(p), "-o", str(out)], input=b"")
    assert res.exit_code == 1 and "empty" in res.output and not out.exists()
    res = runner.invoke(cli, ["sm2", "encrypt", "--pub", str(tmp_path / "missing"), "-o", str(out)], input=b"x")
    assert res.exit_code == 1 and "cannot read" in res.output and not out.exists()
