from __future__ import annotations

from collections.abc import Sequence

import bidkernel_portal
import pytest


@pytest.fixture
def bk_plugins() -> Sequence[tuple[str, object]]:
    """bidkernel.testing's kernel fixtures run with this plugin registered."""
    return [("portal", bidkernel_portal)]
