"""Plugin tests: a third-party plugin distribution (tests/plugins/fixtures/bk_recorder) is pip-installed
from a copy of its folder, as a separate distribution, into a target directory that these tests (and
the subprocesses they start) put on the path. The test venv itself is left as it was, so no other test
of the suite sees this plugin's hooks."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def recorder_installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the fixture distributions once per session into a target directory."""
    base = tmp_path_factory.mktemp("recorder")
    site = base / "site"
    for dist in ("bk_recorder", "bk_broken"):
        src = base / dist
        shutil.copytree(FIXTURES / dist, src)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-input",
             "--target", str(site), str(src)],
            check=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )  # fmt: skip
    return site


@pytest.fixture
def recorder_site(recorder_installed: Path) -> Iterator[Path]:
    """The installed fixture distributions on the path for one test only (other tests never see them)."""
    site = recorder_installed
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("bidkernel_recorder", None)
        sys.modules.pop("bidkernel_broken", None)
        importlib.invalidate_caches()
