"""The opening's endpoints, CLI commands and ledger events are documented."""

from __future__ import annotations

from pathlib import Path

from bidkernel.api.opening_routes import opening_endpoints

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_opening_endpoint_is_in_api_md() -> None:
    api = (DOCS / "api.md").read_text()
    for e in opening_endpoints():
        path = e.path.replace("{tender_id}", "{id}").replace("{bid_id}", "{id}")
        assert f"| {e.method} | `{path}` |" in api, (e.method, path)


def test_opening_events_and_causes_are_in_protocol_md() -> None:
    from bidkernel.opening.evidence import CAUSES

    text = (DOCS / "protocol.md").read_text()
    for kind in ("opening.started", "opening.record", "opening.share_released", "opening.share_rejected",
                 "opening.key_released", "opening.backup_received", "opening.confirmed", "opening.objection",
                 "opening.opened", "opening.bid_failed"):  # fmt: skip
        assert kind in text, kind
    for cause, (code, _attr, _what) in CAUSES.items():
        assert f"`{cause}`" in text and code in text, cause
