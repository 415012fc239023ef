"""The native module loads and reports truthful facts (issue 2)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bidkernel import _native
from bidkernel.native_info import native_info

# /proc/cpuinfo spells some flags differently from Rust's feature names.
_CPUINFO_NAME = {"sse4.1": "sse4_1", "sha": "sha_ni"}


def test_native_version_is_the_crate_version(repo_root: Path) -> None:
    cargo = tomllib.loads((repo_root / "native" / "Cargo.toml").read_text())
    assert _native.version() == cargo["package"]["version"]


def test_build_profile_is_known() -> None:
    assert _native.build_profile() in {"release", "debug"}


def test_cpu_features_match_proc_cpuinfo() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.fail("this test needs Linux /proc/cpuinfo; the kernel targets Linux servers")
    flags_line = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags"))
    flags = set(flags_line.split(":", 1)[1].split())
    reported = dict(_native.cpu_features())
    assert len(reported) >= 10
    for name, present in reported.items():
        assert present == (_CPUINFO_NAME.get(name, name) in flags), name


def test_native_info_detected_is_consistent() -> None:
    info = native_info()
    assert set(info.detected()) == {n for n, p in info.cpu_features if p}
    assert re.fullmatch(r"\d+\.\d+\.\d+", info.version)


def test_portable_flag_follows_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIDKERNEL_FORCE_PORTABLE", "1")
    assert _native.portable_forced() is True
    monkeypatch.setenv("BIDKERNEL_FORCE_PORTABLE", "0")
    assert _native.portable_forced() is False
    monkeypatch.delenv("BIDKERNEL_FORCE_PORTABLE")
    assert _native.portable_forced() is False
