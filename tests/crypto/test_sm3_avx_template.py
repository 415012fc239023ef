"""The AVX SM3 template (native/src/simd/sm3_avx.s) is generated from the AVX-512 one by
native/tools/gen_sm3_avx.py; the checked-in file must be exactly what the generator writes, so the
two templates cannot drift apart (same rounds, same order)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_GEN = _ROOT / "native" / "tools" / "gen_sm3_avx.py"


def test_checked_in_template_is_the_generator_output() -> None:
    r = subprocess.run([sys.executable, str(_GEN), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_check_fails_on_a_changed_template(tmp_path: pathlib.Path) -> None:
    # The same generator, pointed at a copy of the tree whose template has one line changed.
    simd = tmp_path / "native" / "src" / "simd"
    simd.mkdir(parents=True)
    tools = tmp_path / "native" / "tools"
    tools.mkdir()
    src = _ROOT / "native" / "src" / "simd"
    (simd / "sm3_x86_64.s").write_text((src / "sm3_x86_64.s").read_text())
    changed = (src / "sm3_avx.s").read_text().replace("vpsrld      $17", "vpsrld      $16", 1)
    (simd / "sm3_avx.s").write_text(changed)
    (tools / "gen_sm3_avx.py").write_text(_GEN.read_text())
    r = subprocess.run([sys.executable, str(tools / "gen_sm3_avx.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "is not what gen_sm3_avx.py writes" in r.stderr
