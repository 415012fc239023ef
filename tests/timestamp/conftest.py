"""Fixtures for the trusted-time tests: a test PKI on disk, TSAs, and real uvicorn servers on loopback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ts_pki import Issued, make_ca, make_tsa
from ts_support import build_authority, serve

from bidkernel.timestamp import TimeStampAuthority


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def ca(pki_dir: Path) -> Issued:
    return make_ca(pki_dir)


@pytest.fixture(scope="session")
def tsa_cert(pki_dir: Path, ca: Issued) -> Issued:
    return make_tsa(pki_dir, ca)


@pytest.fixture
def authority(tsa_cert: Issued, tmp_path: Path) -> TimeStampAuthority:
    return build_authority(tsa_cert, tmp_path / "serial.sqlite")


@pytest.fixture
def server() -> Callable[[Any], Any]:
    return serve
