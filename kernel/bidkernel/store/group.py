"""Group writes: many threads hand items to :meth:`GroupWriter.submit`; one of them (the leader) writes
every item pending at that moment in ONE call (one transaction, one fsync), the others wait for it.

No background thread: the first caller to find no write in progress does the write, so a lone caller
pays exactly one write and concurrent callers share one. Used for receipts (stored as issued) and
for read requests' nonces (the replay journal).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupWriter(Generic[T]):
    """Batches ``write(items)`` calls across threads (see the module docstring)."""

    def __init__(self, write: Callable[[Sequence[T]], None], *, max_batch: int = 4096) -> None:
        self._write = write
        self._max = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Slot[T]] = []
        self._running = False
        self.batches = 0

    def submit(self, item: T) -> None:
        """Return once ``item`` is written (raise what the write raised)."""
        slot = _Slot(item)
        with self._cond:
            self._pending.append(slot)
            while not slot.done:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                batch, self._pending = self._pending[: self._max], self._pending[self._max :]
                self._cond.release()
                error: BaseException | None = None
                try:
                    self._write([s.item for s in batch])
                except BaseException as exc:  # handed to every caller of this batch
                    error = exc
                finally:
                    self._cond.acquire()
                    self._running = False
                    for s in batch:
                        s.done, s.error = True, error
                    self.batches += 1
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
