"""Shared fixtures. The public vectors live in ../shared/vectors beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _vectors_dir() -> Path:
    env = os.environ.get("BIDKERNEL_VECTORS")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "vectors", REPO / "shared" / "vectors"]
    for c in candidates:
        if c.is_dir():
            return c
    raise RuntimeError(
        "public test vectors not found: set BIDKERNEL_VECTORS or place shared/vectors beside the checkout"
    )


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    return _vectors_dir()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
