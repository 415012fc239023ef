"""Serial numbers (RFC 3161 §2.4.2: unique per TSA) in a real SQLite file, and the TOML configuration."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
from ts_pki import Issued

from bidkernel.timestamp import ConfigError, Trust, verify_token
from bidkernel.timestamp.config import build_authority, load_config
from bidkernel.timestamp.serials import SqliteSerialCounter


def test_block_lease_is_durable_and_skips_after_crash(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    a = SqliteSerialCounter(db, block=10)
    got = [a.next_serial() for _ in range(3)]
    assert got == [1, 2, 3]
    # "crash": the process goes away without returning its lease; a new one never reuses 4..10
    b = SqliteSerialCounter(db, block=10)
    assert b.next_serial() == 11
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def _take(db: str, n: int, q: multiprocessing.Queue) -> None:
    c = SqliteSerialCounter(db, block=7)
    q.put([c.next_serial() for _ in range(n)])


def test_unique_across_threads_and_processes(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    shared = SqliteSerialCounter(db, block=5)
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [shared.next_serial() for _ in range(200)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_take, args=(str(db), 100, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for t in threads:
        t.join()
    for _ in procs:
        seen.extend(q.get(timeout=60))
    for p in procs:
        p.join(timeout=60)
    assert len(seen) == 1000 and len(set(seen)) == 1000


def test_bad_block_and_unwritable_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SqliteSerialCounter(tmp_path / "s", block=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="serial store"):
        SqliteSerialCounter(tmp_path / "file" / "s.sqlite")


def _write_cfg(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "tsa.toml"
    p.write_text(body)
    return p


def test_config_builds_a_working_tsa(tmp_path: Path, tsa_cert: Issued, ca: Issued) -> None:
    p = _write_cfg(
        tmp_path,
        f'[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "{tsa_cert.key_path}"\ncert = "{tsa_cert.cert_path}"\n'
        'policy = "1.2.3.4.1"\naccepted_policies = ["1.2.3.4.5"]\nserial_db = "data/serial.sqlite"\n'
        "precision_digits = 2\n[clock]\nsystem_accuracy = 0.2\nmax_skew = 2\n",
    )
    cfg = load_config(p)
    assert cfg.serial_db == (tmp_path / "data" / "serial.sqlite").resolve()
    auth = build_authority(cfg)
    info = verify_token(auth.stamp(b"x"), b"x", Trust([ca.cert]))
    assert info.accuracy == pytest.approx(0.21, abs=0.002)  # 0.2 s clock + 10 ms precision
    assert auth.clock.max_skew == 2  # type: ignore[attr-defined]


def test_serial_db_defaults_under_the_data_dir(tmp_path: Path, tsa_cert: Issued, monkeypatch) -> None:
    monkeypatch.setenv("BIDKERNEL_DATA_DIR", str(tmp_path / "dd"))
    p = _write_cfg(
        tmp_path,
        f'[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "{tsa_cert.key_path}"\ncert = "{tsa_cert.cert_path}"\n'
        'policy = "1.2.3.4.1"\n',
    )
    build_authority(load_config(p)).stamp(b"x")
    assert (tmp_path / "dd" / "timestamp" / "serial.sqlite").exists()


HEAD = '[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "k"\ncert = "c"\npolicy = "1.2"\n'


@pytest.mark.parametrize(
    "body, match",
    [
        ("not toml [", "cannot read"),
        ("[other]\n", r"\[tsa\] table"),
        ('[tsa]\nprofile = "x"\n', "missing setting 'key'"),
        ('[tsa]\nprofile = "rsa"\nkey = "k"\ncert = "c"\npolicy = "1.2"\n', "unknown TSA profile"),
        ('[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = 5\ncert = "c"\npolicy = "1.2"\n', "wrong type"),
        (HEAD + '[clock]\nmode = "ntp"\n', "mode"),
        (HEAD + '[clock]\nmode = "reference"\n', "reference_urls"),
        ('[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "missing.key"\ncert = "c"\npolicy = "1.2"\n', "cannot read"),
    ],
)
def test_config_errors_are_clear(tmp_path: Path, body: str, match: str) -> None:
    p = _write_cfg(tmp_path, body)
    with pytest.raises(ConfigError, match=match):
        build_authority(load_config(p))


def test_key_password_from_environment_only(tmp_path: Path, tsa_cert: Issued, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization

    enc = tmp_path / "enc.key"
    enc.write_bytes(
        tsa_cert.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret-pass"),
        )
    )
    p = _write_cfg(
        tmp_path,
        f'[tsa]\nprofile = "ecdsa-p256-sha256"\nkey = "{enc}"\ncert = "{tsa_cert.cert_path}"\npolicy = "1.2.3"\n'
        'key_password_env = "TSA_KEY_PASS"\nserial_db = "s.sqlite"\n',
    )
    with pytest.raises(ConfigError, match="TSA_KEY_PASS is not set"):
        build_authority(load_config(p))
    monkeypatch.setenv("TSA_KEY_PASS", "not-the-pass-42")
    with pytest.raises(ConfigError) as e:
        build_authority(load_config(p))
    assert "s3cret" not in str(e.value) and "not-the-pass-42" not in str(e.value)
    monkeypatch.setenv("TSA_KEY_PASS", "s3cret-pass")
    auth = build_authority(load_config(p))
    assert "s3cret" not in repr(auth)
