from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

try:
    import bidkernel_portal
except ImportError:  # the repository's test command runs these tests before the plugin is installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import bidkernel_portal


@pytest.fixture
def bk_plugins() -> Sequence[tuple[str, object]]:
    """bidkernel.testing's kernel fixtures run with this plugin registered."""
    return [("portal", bidkernel_portal)]
