"""`bidkernel ledger ...` end to end: operator exports, auditor verifies offline; exit 0 / 1 / 2."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ledger_helpers import ORIGIN, ev

from bidkernel.cli.main import build_cli
from bidkernel.ledger.checkpoint import Ed25519NoteSigner
from bidkernel.ledger.log import LogConfig, TransparencyLog
from bidkernel.store.sqlite import SQLiteStore


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(build_cli(), ["ledger", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    signer = Ed25519NoteSigner.generate(ORIGIN)
    db = d / "ledger.db"
    with SQLiteStore(db) as store:
        lg = TransparencyLog.open(store, LogConfig(ORIGIN, checkpoint_every_n=0, checkpoint_every_ms=0), signer=signer)
        for i in range(13):
            lg.append(ev(i))
        (d / "old.cp").write_text(lg.checkpoint().note)
        for i in range(13, 29):
            lg.append(ev(i))
        lg.checkpoint()
        lg.close()
    (d / "log.vkey").write_text(signer.verifier().vkey() + "\n")
    (d / "other.vkey").write_text(Ed25519NoteSigner.generate(ORIGIN).verifier().vkey() + "\n")
    return {"dir": d, "db": db, "key": d / "log.vkey", "other": d / "other.vkey", "old": d / "old.cp"}


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_inclusion_round_trip(world: dict[str, Path], tmp_path: Path) -> None:
    proof = tmp_path / "p.json"
    assert run("prove-inclusion", world["db"], 5, "-o", proof).exit_code == 0
    r = run("verify-inclusion", proof, "--key", world["key"])
    assert r.exit_code == 0, r.output
    assert "OK: leaf 5 is included in the sm3 tree of size 29" in r.output
    assert "bid.received" in r.output and "B-5" in r.output


def test_inclusion_failures_exit_1(world: dict[str, Path], tmp_path: Path) -> None:
    proof = tmp_path / "p.json"
    run("prove-inclusion", world["db"], 7, "-o", proof)
    doc = json.loads(proof.read_text())
    bad = dict(doc)
    h = bytearray(base64.b64decode(doc["proof"][1]))
    h[0] ^= 1
    bad["proof"] = [doc["proof"][0], base64.b64encode(h).decode(), *doc["proof"][2:]]
    r = run("verify-inclusion", _write(tmp_path / "b1.json", bad), "--key", world["key"])
    assert r.exit_code == 1 and "FAILED" in r.output and "root_mismatch" in r.output
    bad = dict(doc, leaf=base64.b64encode(b"forged").decode())
    r = run("verify-inclusion", _write(tmp_path / "b2.json", bad), "--key", world["key"])
    assert r.exit_code == 1 and "leaf_mismatch" in r.output
    r = run("verify-inclusion", proof, "--key", world["other"])
    assert r.exit_code == 1 and "unknown_signer" in r.output
    bad = dict(doc, leaf_index=8)
    bad.pop("leaf")
    r = run("verify-inclusion", _write(tmp_path / "b3.json", bad), "--key", world["key"])
    assert r.exit_code == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"format": "bidkernel/inclusion-proof/v1"}', "'hash'"),
        ('{"format": "something/else"}', "'format'"),
        ("[]", "JSON object"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "x.json"
    f.write_text(content)
    for cmd in ("verify-inclusion", "verify-consistency"):
        r = run(cmd, f)
        assert r.exit_code == 2, (cmd, r.output)
        assert "error:" in r.output
    r = run("verify-inclusion", f)
    assert message in r.output


def test_missing_file_and_missing_key_exit_2(world: dict[str, Path], tmp_path: Path) -> None:
    assert run("verify-inclusion", tmp_path / "nope.json").exit_code == 2
    proof = tmp_path / "p.json"
    run("prove-inclusion", world["db"], 1, "-o", proof)
    r = run("verify-inclusion", proof)
    assert r.exit_code == 2 and "--key" in r.output
    bad_key = tmp_path / "bad.vkey"
    bad_key.write_text("name+00000000+AAAA\n")
    assert run("verify-inclusion", proof, "--key", bad_key).exit_code == 2
    assert run("prove-inclusion", world["db"], 999).exit_code == 2
    assert run("prove-inclusion", tmp_path / "none.db", 1).exit_code == 2


def test_consistency_round_trip_and_failure(world: dict[str, Path], tmp_path: Path) -> None:
    proof = tmp_path / "c.json"
    assert run("prove-consistency", world["db"], world["old"], "-o", proof).exit_code == 0
    r = run("verify-consistency", proof, "--key", world["key"])
    assert r.exit_code == 0, r.output
    assert "size 29" in r.output and "size 13" in r.output
    doc = json.loads(proof.read_text())
    doc["root1"], doc["root2"] = doc["root2"], doc["root1"]
    del doc["checkpoint1"], doc["checkpoint2"]
    r = run("verify-consistency", _write(tmp_path / "bad.json", doc))
    assert r.exit_code == 1 and "FAILED" in r.output


def test_check_checkpoint_and_leaves(world: dict[str, Path], tmp_path: Path) -> None:
    cp = tmp_path / "cp"
    leaves = tmp_path / "leaves.jsonl"
    assert run("checkpoint", world["db"], "-o", cp).exit_code == 0
    assert run("export", world["db"], "-o", leaves).exit_code == 0
    r = run("check", cp, "--key", world["key"], "--origin", ORIGIN, "--leaves", leaves)
    assert r.exit_code == 0, r.output
    assert "29 exported leaves recompute the checkpoint root" in r.output
    # an older checkpoint is checked against the prefix of the export
    r = run("check", world["old"], "--key", world["key"], "--leaves", leaves)
    assert r.exit_code == 0 and "13 exported leaves" in r.output
    lines = leaves.read_text().splitlines()
    (tmp_path / "short.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    r = run("check", cp, "--key", world["key"], "--leaves", tmp_path / "short.jsonl")
    assert r.exit_code == 1 and "28 leaves" in r.output
    swapped = lines[:]
    swapped[3], swapped[4] = (
        swapped[3].replace('"index": 3', '"index": 4'),
        swapped[4].replace('"index": 4', '"index": 3'),
    )
    swapped[3], swapped[4] = swapped[4], swapped[3]
    (tmp_path / "swapped.jsonl").write_text("\n".join(swapped) + "\n")
    r = run("check", cp, "--key", world["key"], "--leaves", tmp_path / "swapped.jsonl")
    assert r.exit_code == 1 and "root" in r.output
    r = run("check", cp, "--key", world["other"])
    assert r.exit_code == 1
    r = run("check", cp, "--key", world["key"], "--origin", "someone.else/log")
    assert r.exit_code == 1 and "wrong_origin" in r.output
    forged = cp.read_text().replace("\n29\n", "\n30\n")
    (tmp_path / "forged").write_text(forged)
    r = run("check", tmp_path / "forged", "--key", world["key"])
    assert r.exit_code == 1 and "bad_signature" in r.output
    (tmp_path / "garbage").write_text("hello\n")
    assert run("check", tmp_path / "garbage", "--key", world["key"]).exit_code == 2
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    assert run("check", cp, "--key", world["key"], "--leaves", tmp_path / "bad.jsonl").exit_code == 2


def test_cli_verifies_the_sha256_vectors(vectors_dir: Path, tmp_path: Path) -> None:
    """The public vectors, rewritten into our file format with hash sha256, verify (or fail) alike."""
    n = 0
    for f in sorted((vectors_dir / "merkle_rfc6962" / "inclusion").rglob("*.json"))[:40]:
        v = json.loads(f.read_text())
        if v["root"] == "" or v["leafHash"] == "":
            continue
        doc = {
            "format": "bidkernel/inclusion-proof/v1",
            "hash": "sha256",
            "origin": "rfc6962",
            "leaf_index": v["leafIdx"],
            "tree_size": v["treeSize"],
            "leaf_hash": v["leafHash"],
            "proof": v["proof"] or [],
            "root": v["root"],
        }
        r = run("verify-inclusion", _write(tmp_path / "v.json", doc))
        assert r.exit_code == (1 if v["wantErr"] else 0), (f, r.output)
        n += 1
    assert n > 20
