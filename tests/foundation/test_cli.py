"""The `bidkernel` command: --version and --help on every level (issue 2)."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

import bidkernel
from bidkernel import _native
from bidkernel.cli.main import build_cli


def _walk(group: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(group, click.Group):
        for name, cmd in group.commands.items():
            out += _walk(cmd, (*path, name))
    return out


def test_version_reports_package_native_profile_and_cpu() -> None:
    res = CliRunner().invoke(build_cli(), ["--version"])
    assert res.exit_code == 0, res.output
    assert f"bidkernel {bidkernel.__version__}" in res.output
    assert f"native {_native.version()}, {_native.build_profile()} build" in res.output
    detected = [n for n, p in _native.cpu_features() if p]
    feats_line = next(line for line in res.output.splitlines() if line.startswith("cpu features:"))
    assert feats_line.split(":", 1)[1].split() == (detected or ["none"])
    backends = _native.crypto_backends()
    assert set(backends) == {"sm4", "sm3", "sm3_multi"}
    backends_line = next(line for line in res.output.splitlines() if line.startswith("crypto backends:"))
    assert backends_line == "crypto backends: " + ", ".join(f"{k} {v}" for k, v in sorted(backends.items()))
    if _native.portable_forced():
        assert backends["sm4"] == "portable" and backends["sm3_multi"] == "serial"


def test_help_on_every_level() -> None:
    root = build_cli()
    paths = _walk(root)
    assert ("demo",) in paths
    for path in paths:
        res = CliRunner().invoke(root, [*path, "--help"])
        assert res.exit_code == 0, (path, res.output)
        assert "Usage:" in res.output, path
        # every command documents itself: a help text beyond the usage line
        assert len(res.output.strip().splitlines()) >= 3, path


def test_unknown_command_fails_with_message() -> None:
    res = CliRunner().invoke(build_cli(), ["no-such-command"])
    assert res.exit_code == 2
    assert "No such command" in res.output


def test_console_script_is_installed() -> None:
    # the installed entry point, not just the function: this is what README's first command runs
    res = subprocess.run(
        [sys.executable, "-c", "from bidkernel.cli.main import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("bidkernel ")


def test_demo_runs_and_reports_checks() -> None:
    res = CliRunner().invoke(build_cli(), ["demo"])
    assert res.exit_code == 0, res.output
    assert "checks passed" in res.output
    assert "[FAIL]" not in res.output


def test_demo_fails_loudly_when_a_known_answer_is_wrong(monkeypatch) -> None:
    import bidkernel.crypto.sm3 as sm3_module

    monkeypatch.setattr(sm3_module, "sm3", lambda data: bytes(32))
    res = CliRunner().invoke(build_cli(), ["demo"])
    assert res.exit_code != 0
    assert "[FAIL] SM3 known answer" in res.output
