"""Repository-level pytest hooks.

A run that executes no test is a failure with a message, never a quiet exit 5 that a script
could mistake for success or mask (README's test command and .ci/run rely on this).
"""

from __future__ import annotations

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not session.config.option.collectonly:
        session.config.get_terminal_writer().line("ERROR: no tests ran - refusing to report success", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
