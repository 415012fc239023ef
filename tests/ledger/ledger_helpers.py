"""Helpers shared by the ledger tests (imported by name: tests/ledger is on sys.path under pytest)."""

from __future__ import annotations

from typing import Any

from bidkernel.ledger.events import Event

ORIGIN = "ledger.test.example/log"


def ev(i: int, **extra: Any) -> Event:
    return Event("bid.received", 1_795_000_000_000 + i, {"tender_id": "T-1", "bid_id": f"B-{i}", **extra})
