"""Unique, persistent TSA serial numbers (RFC 3161 §2.4.2: "unique for each TimeStampToken issued by a
given TSA").

The counter lives in a small SQLite file (WAL, ``synchronous=FULL``). Serials are leased in blocks: one
durable transaction reserves ``block`` numbers, which are then handed out from memory, so a token costs
no fsync. A crash loses at most the rest of a block (gaps are allowed; reuse is not), and several
processes sharing the file lease disjoint blocks under ``BEGIN IMMEDIATE``.

The counter itself (:class:`SqliteSerialCounter`) lives in ``bidkernel.store.serials`` with the rest of the
kernel's SQL and is re-exported here.
"""

from __future__ import annotations

from typing import Protocol

from bidkernel.store.serials import SqliteSerialCounter


class SerialSource(Protocol):
    def next_serial(self) -> int: ...


__all__ = ["SerialSource", "SqliteSerialCounter"]
