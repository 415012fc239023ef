from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from intake_support import Kernel, start_kernel


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = start_kernel(tmp_path)
    yield k
    k.stop()
