"""Known-answer self-checks run by ``bidkernel demo`` (and usable by operators after install)."""

from __future__ import annotations

from collections.abc import Callable

from bidkernel.native_info import native_info

Check = tuple[str, bool, str]


def _native_loaded() -> Check:
    info = native_info()
    return (
        "native module",
        True,
        f"{info.version} ({info.build_profile}), {len(info.detected())} CPU features",
    )


CHECKS: list[Callable[[], Check]] = [_native_loaded]


def run_selfcheck() -> list[Check]:
    out: list[Check] = []
    for check in CHECKS:
        try:
            out.append(check())
        except Exception as exc:  # a failed check is reported, never hidden
            out.append((check.__name__.strip("_"), False, f"{type(exc).__name__}: {exc}"))
    return out
