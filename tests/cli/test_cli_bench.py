"""`bidkernel bench crypto`: the quick mode runs every operation through bidkernel.crypto beside the
anchors that are present (libgcrypt through ctypes on Debian), and a bad anchor path is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bidkernel.cli.main import build_cli

OPERATIONS = [
    "SM4-CTR",
    "SM4-GCM seal",
    "SM4-CBC decrypt",
    "SM4-CBC encrypt",
    "SM3",
    "SM3 many (64 x 1 KiB, vs one stream)",
    "SM2 sign (32 B)",
    "SM2 verify (32 B)",
    "SM2 encrypt (32 B)",
    "SM2 decrypt (32 B)",
]


NO_GMSSL = {"BIDKERNEL_GMSSL_LIB": ""}


def _bench(*args: str) -> dict[str, object]:
    res = CliRunner().invoke(build_cli(), ["bench", "crypto", "--quick", "--json", *args], env=NO_GMSSL)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert isinstance(out, dict)
    return out


def test_quick_json_measures_every_operation_without_anchors() -> None:
    out = _bench("--no-libgcrypt")
    rows = out["rows"]
    assert isinstance(rows, list)
    assert [r["operation"] for r in rows] == OPERATIONS
    for r in rows:
        assert r["bidkernel"] > 0, r
        assert r["unit"] == ("ops/s" if r["operation"].startswith("SM2") else "MB/s")
        assert r["anchors"] == {} and r["ratios"] == {}
    assert out["anchors"] == {}
    assert set(out["backends"]) == {"sm4", "sm3", "sm3_multi"}  # type: ignore[arg-type]


def test_quick_table_has_libgcrypt_ratios_for_symmetric_rows() -> None:
    out = _bench()
    assert "libgcrypt" in out["anchors"]  # type: ignore[operator]
    rows = {r["operation"]: r for r in out["rows"]}  # type: ignore[attr-defined]
    for op in OPERATIONS[:6]:
        anchor = rows[op]["anchors"]["libgcrypt"]
        assert anchor > 0, op
        assert rows[op]["ratios"]["libgcrypt"] == pytest.approx(rows[op]["bidkernel"] / anchor)
    for op in OPERATIONS[6:]:  # libgcrypt is not an SM2 anchor here
        assert rows[op]["anchors"]["libgcrypt"] is None and rows[op]["ratios"]["libgcrypt"] is None


def test_markdown_table_and_machine_lines() -> None:
    res = CliRunner().invoke(build_cli(), ["bench", "crypto", "--quick", "--no-libgcrypt"], env=NO_GMSSL)
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "| operation | unit | bidkernel |"
    assert sum(line.startswith("| SM") for line in lines) == len(OPERATIONS)
    assert any(line.startswith("cpu: ") for line in lines)
    assert any(line.startswith("run: ") and "load average" in line for line in lines)


def test_bad_gmssl_path_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "libgmssl.so"
    bogus.write_bytes(b"not a library")
    for path in (str(tmp_path / "missing.so"), str(bogus)):
        res = CliRunner().invoke(build_cli(), ["bench", "crypto", "--quick", "--gmssl", path])
        assert res.exit_code == 1
        assert "anchor:" in res.output and "not a GmSSL 3 library" in res.output
        assert "| operation" not in res.output
