"""docs/writing_plugins.md's example plugin is real: its files are copied out of the page, pip-installed as
their own distribution, and its tests (conformance suite included) run in a fresh pytest process; its
command appears under `bidkernel sms`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from plugin_support import subprocess_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing_plugins.md"
BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```", re.S)


def test_the_walkthrough_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    files = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert {f for f, _ in files} == {"bidkernel-sms/pyproject.toml", "bidkernel-sms/bidkernel_sms/__init__.py",
                                     "bidkernel-sms/tests/conftest.py", "bidkernel-sms/tests/test_sms.py"}  # fmt: skip
    for name, text in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-input",
         "--target", str(site), str(tmp_path / "bidkernel-sms")],
        check=True, env=subprocess_env(site, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )  # fmt: skip
    env = subprocess_env(site)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "bidkernel-sms" / "tests")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert re.search(r"\b8 passed\b", res.stdout), res.stdout[-2000:]
    bk = [sys.executable, "-c", "from bidkernel.cli.main import main; main()"]
    out = subprocess.run([*bk, "sms", "--help"], env=env, capture_output=True, text=True, check=True).stdout
    assert "bidkernel-sms 0.1.0" in out and "sent" in out
