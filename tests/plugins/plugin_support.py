"""Helpers shared by the plugin tests."""

from __future__ import annotations

import os
from pathlib import Path


def subprocess_env(site: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env
