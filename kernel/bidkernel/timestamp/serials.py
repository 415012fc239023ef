"""Unique, persistent TSA serial numbers (RFC 3161 §2.4.2) as the timestamp layer sees them.

The SQLite mechanics live in :mod:`bidkernel.store.serials` with the rest of the kernel's SQL; this module
maps its storage errors onto the timestamp layer's stable error codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bidkernel.store import serials as _store
from bidkernel.timestamp.errors import ConfigError, TimestampError

__all__ = ["SerialSource", "SqliteSerialCounter"]


class SerialSource(Protocol):
    def next_serial(self) -> int: ...


class SqliteSerialCounter:
    """Serials leased in durable blocks from a SQLite file (see :mod:`bidkernel.store.serials`)."""

    def __init__(self, path: str | Path, *, block: int = 256) -> None:
        try:
            self._counter = _store.SqliteSerialCounter(path, block=block)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        except _store.SerialStoreError as exc:
            raise ConfigError(str(exc)) from exc.__cause__
        self.path = self._counter.path

    def next_serial(self) -> int:
        try:
            return self._counter.next_serial()
        except _store.SerialStoreError as exc:
            code = "timestamp.serial_exhausted" if exc.code == "exhausted" else "timestamp.serial_store"
            raise TimestampError(str(exc), code=code) from exc.__cause__

    def close(self) -> None:
        self._counter.close()

    def __repr__(self) -> str:
        return repr(self._counter)
