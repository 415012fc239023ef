"""docs/plugin_hooks.md documents every hook of bidkernel.hookspecs — signature, when, guarantees, example —
and nothing that does not exist (the datasette model: a hook without documentation fails the build)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bidkernel import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugin_hooks.md"


def _hooks() -> dict[str, str]:
    out = {}
    for name in dir(hookspecs):
        fn = getattr(hookspecs, name)
        if name.startswith("bidkernel_") and callable(fn):
            ann = dict(fn.__annotations__)
            ret = ann.pop("return")
            out[name] = f"{name}({', '.join(f'{k}: {v}' for k, v in ann.items())}) -> {ret}"
    return out


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### (\S+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_hook_is_documented_and_nothing_else() -> None:
    assert set(_sections()) == set(_hooks())


@pytest.mark.parametrize("hook", sorted(_hooks()))
def test_hook_section_is_complete(hook: str) -> None:
    body = _sections()[hook]
    assert f"`{_hooks()[hook]}`" in body, f"{hook}: the documented signature differs from hookspecs.py"
    for part in ("**When:**", "**Guarantees:**", "**Example:**", "```python"):
        assert part in body, f"{hook}: no {part}"
    assert f"def {hook}(" in body, f"{hook}: the example does not implement the hook"


def test_event_hooks_table_matches_the_lifecycle_order_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("`bidkernel_tender_published` →"))
    documented = re.findall(r"`(bidkernel_\w+)`", line)
    assert set(documented) == set(hookspecs.EVENT_HOOKS.values())
    assert documented.index("bidkernel_deadline_sealed") > documented.index("bidkernel_bid_received")
