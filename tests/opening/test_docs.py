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


def test_the_key_check_value_example_in_protocol_md_holds() -> None:
    """An independent verifier can compute the KCV from protocol.md alone: the worked example, recomputed
    here with another SM3 implementation (gmssl) and with ours."""
    import re

    from gmssl import func
    from gmssl import sm3 as gm_sm3

    from bidkernel.crypto.envelope import key_check_value

    text = (DOCS / "protocol.md").read_text()
    m = re.search(r"Example: K = `([0-9a-f]{32})` gives\s+KCV = `([0-9a-f]{64})`", text)
    assert m is not None
    key, kcv = bytes.fromhex(m.group(1)), m.group(2)
    msg = b"bidkernel/content-key-check/v1" + b"\x00" + key
    assert gm_sm3.sm3_hash(func.bytes_to_list(msg)) == kcv == key_check_value(key).hex()
    assert "1.2.156.112233.2.1" in text and "opening.key_refused" in text and "threshold-remedy" in text
