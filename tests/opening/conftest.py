from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "intake"))

from opening_support import Hall


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[Hall]:
    h = Hall.start(tmp_path)
    yield h
    h.stop()
