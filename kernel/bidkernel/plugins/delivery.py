"""Durable outbox delivery: lifecycle events reach plugins after commit, at least once.

The state change and its outbox row commit in one transaction (intake, tenders, opening). This
deliverer runs beside the server on its event loop, never on a request: it reads undelivered rows in
id (commit) order and calls, per plugin, the hook the event's kind maps to
(:data:`bidkernel.hookspecs.EVENT_HOOKS`) with an :class:`OutboxEvent` carrying the row's idempotency
key. Per (event, plugin) it records the outcome in ``outbox_deliveries``:

* success — ``done``;
* an exception or a timeout (each call has one) — ``retry`` with ``attempts + 1`` and the next try
  ``base * 2**(attempts-1)`` ms later (capped); after ``max_attempts`` — ``dead`` (the dead letter an
  operator lists with ``bidkernel outbox dead`` / ``GET /admin/outbox?state=dead`` and replays).

An event is marked delivered once every implementing plugin has it ``done`` or ``dead``. While a plugin
has an event waiting for a retry, its later events wait too (per-plugin order). Each attempt is recorded
(as ``retry``, next try after the backoff) *before* the call, and its outcome after: a crash during the
call means the call is repeated after restart (at least once, never lost), and an event whose call kills
the process every time is dead-lettered after ``max_attempts`` restarts instead of crashing the kernel
forever.

Sync hooks run in daemon threads, at most ``threads`` still-running calls per plugin (a hung call keeps
its thread; the timeout frees the deliverer); ``async`` hooks run on the loop and are cancelled at their
timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bidkernel.hookspecs import EVENT_HOOKS
from bidkernel.plugins.contract import OutboxEvent
from bidkernel.plugins.handles import event_payload
from bidkernel.store.base import DeliveryRow, OutboxRow

if TYPE_CHECKING:
    from bidkernel.platform import Platform
    from bidkernel.plugins.host import PluginHost

log = logging.getLogger("bidkernel.outbox")


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout_s: float = 10.0
    max_attempts: int = 8
    backoff_base_ms: int = 500
    backoff_max_ms: int = 10 * 60 * 1000
    batch: int = 200
    poll_s: float = 0.2
    threads: int = 8

    def backoff_ms(self, attempts: int) -> int:
        return int(min(self.backoff_max_ms, self.backoff_base_ms * 2 ** max(0, attempts - 1)))


_INTERRUPTED = "interrupted: the process ended during the call"


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Deliverer:
    """Delivers the outbox of ``platform`` to the plugins of ``host``. Drive it with :meth:`run` (the
    server's background task) or call :meth:`deliver_once` (tests, ``bidkernel outbox deliver``)."""

    def __init__(
        self,
        platform: Platform,
        host: PluginHost,
        *,
        policy: DeliveryPolicy | None = None,
        now_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.p = platform
        self.host = host
        self.policy = policy or DeliveryPolicy()
        self.now_ms = now_ms
        self._busy: dict[str, int] = {}
        self._busy_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self.rounds = 0

    def wake(self) -> None:
        """Ask the running loop to look at the outbox now (thread-safe is not needed: same loop)."""
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled."""
        self._wake = asyncio.Event()
        while True:
            try:
                await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox delivery round failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def deliver_once(self) -> int:
        """One pass over the undelivered events; returns how many calls were made."""
        loop = asyncio.get_running_loop()
        pending = await loop.run_in_executor(None, self._pending)
        self.rounds += 1
        if not pending:
            return 0
        rows, states = pending
        blocked: set[str] = set()
        calls = 0
        for row in rows:
            hook = EVENT_HOOKS.get(row.kind)
            impls = self.host.event_impls(hook) if hook is not None else []
            known = dict(states.get(row.id, {}))
            now = self.now_ms()
            todo: list[tuple[str, Callable[..., Any], int]] = []
            settled: list[DeliveryRow] = []
            for name, fn in impls:
                st = known.get(name)
                if st is not None and st.state in ("done", "dead"):
                    continue
                if name in blocked or (st is not None and st.next_ms > now):
                    blocked.add(name)  # per-plugin order: nothing later overtakes a waiting event
                    continue
                if st is not None and st.attempts >= self.policy.max_attempts:
                    # the last attempt was interrupted (the process died during it): a poison event
                    # must not crash the kernel at every restart
                    rec = DeliveryRow(row.id, name, "dead", st.attempts, st.next_ms, st.last_error, now)
                    settled.append(rec)
                    known[name] = rec
                    continue
                todo.append((name, fn, (st.attempts if st else 0) + 1))
            if todo:
                try:
                    data = event_payload(row.payload)
                except ValueError:
                    data = {}
                # the attempt is recorded before the call: if the process dies during it, the restart
                # counts it, backs off, and dead-letters an event that kills the kernel every time
                leases = [
                    DeliveryRow(
                        row.id, name, "retry", attempt, now + self.policy.backoff_ms(attempt), _INTERRUPTED, now
                    )
                    for name, _fn, attempt in todo
                ]
                await loop.run_in_executor(None, self._record, settled + leases, None)
                settled = []
                results = await asyncio.gather(
                    *(self._call(fn, OutboxEvent(row.id, row.kind, row.key, row.created_ms, data, attempt), name)
                      for name, fn, attempt in todo)
                )  # fmt: skip
                calls += len(todo)
                now = self.now_ms()
                records = []
                for (name, _fn, attempt), err in zip(todo, results, strict=True):
                    if err is None:
                        rec = DeliveryRow(row.id, name, "done", attempt, 0, "", now)
                    else:
                        dead = attempt >= self.policy.max_attempts
                        if dead:
                            log.error("outbox event %s (%s) dead-lettered for plugin %s", row.id, row.key, name)
                        else:
                            blocked.add(name)
                        rec = DeliveryRow(row.id, name, "dead" if dead else "retry", attempt,
                                          now + self.policy.backoff_ms(attempt), err[:500], now)  # fmt: skip
                    records.append(rec)
                    known[name] = rec
            else:
                records = settled
            final = all((s := known.get(n)) is not None and s.state in ("done", "dead") for n, _ in impls)
            if records or final:
                await loop.run_in_executor(None, self._record, records, row.id if final else None)
        return calls

    def _pending(self) -> tuple[list[OutboxRow], dict[int, dict[str, DeliveryRow]]] | None:
        with self.p.store.reader() as r:
            ids = [x[0] for x in r.outbox_pending(self.policy.batch)]
            if not ids:
                return None
            rows = [x for x in (r.outbox_get(i) for i in ids) if x is not None]
            return rows, r.delivery_states(ids)

    def _record(self, records: list[DeliveryRow], delivered: int | None) -> None:
        with self.p.store.transaction() as tx:
            for rec in records:
                tx.delivery_put(rec)
            if delivered is not None:
                tx.outbox_delivered([delivered], self.now_ms())

    async def _call(self, fn: Callable[..., Any], event: OutboxEvent, name: str) -> str | None:
        """Run one hook implementation; ``None`` on success, else a short error text (never the payload)."""
        kernel = self.host.handle(name)
        loop = asyncio.get_running_loop()
        timeout = self.policy.timeout_s
        try:
            if inspect.iscoroutinefunction(fn):
                await asyncio.wait_for(fn(event=event, kernel=kernel), timeout)
            else:
                t0 = loop.time()
                result = await asyncio.wait_for(self._in_thread(name, lambda: fn(event=event, kernel=kernel)), timeout)
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, max(0.001, timeout - (loop.time() - t0)))
            return None
        except TimeoutError:
            return f"timed out after {timeout:g} s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("plugin %s failed on outbox event %s (%s): %s", name, event.id, event.key,
                        type(exc).__name__)  # fmt: skip
            return f"{type(exc).__name__}: {exc}"

    def _in_thread(self, name: str, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run a sync hook in a daemon thread (a hung plugin must not keep the process from exiting).
        A plugin with ``threads`` calls still running after their timeout gets no new thread: the call
        fails at once (and counts as an attempt), so a hanging plugin cannot exhaust the process."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._busy_lock:
            if self._busy.get(name, 0) >= self.policy.threads:
                fut.set_exception(RuntimeError(f"{self.policy.threads} earlier calls of this plugin still hang"))
                return fut
            self._busy[name] = self._busy.get(name, 0) + 1

        def settle(result: Any, exc: BaseException | None) -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        def run() -> None:
            result: Any = None
            exc: BaseException | None = None
            try:
                result = call()
            except BaseException as e:  # delivered to the awaiting coroutine, never swallowed
                # SystemExit/KeyboardInterrupt from a plugin thread must not stop the deliverer
                exc = e if isinstance(e, Exception) else RuntimeError(f"the hook raised {type(e).__name__}")
            finally:
                with self._busy_lock:
                    self._busy[name] -= 1
            try:
                loop.call_soon_threadsafe(settle, result, exc)
            except RuntimeError:  # the loop closed meanwhile (shutdown): nobody waits any more
                pass

        threading.Thread(target=run, name=f"bk-plugin-{name}", daemon=True).start()
        return fut

    def close(self) -> None:
        """Nothing to release: hook threads are daemons, and the loop task is cancelled by its owner."""


# --- operator views ---------------------------------------------------------------------------------
def outbox_view(platform: Platform, *, state: str = "all", after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox events with their per-plugin delivery states (``state``: all, pending, dead)."""
    with platform.store.reader() as r:
        if state == "dead":
            dead = r.deliveries_dead(limit)
            ids = sorted({d.event_id for d in dead if d.event_id > after_id})
            rows = [x for x in (r.outbox_get(i) for i in ids) if x is not None]
        else:
            rows = r.outbox_list(after_id=after_id, limit=limit)
            if state == "pending":
                rows = [x for x in rows if x.delivered_ms is None]
        states = r.delivery_states([x.id for x in rows])
    out = []
    for x in rows:
        out.append({
            "id": x.id,
            "kind": x.kind,
            "key": x.key,
            "created_ms": x.created_ms,
            "delivered_ms": x.delivered_ms,
            "deliveries": [
                {"plugin": d.plugin, "state": d.state, "attempts": d.attempts, "next_ms": d.next_ms,
                 "last_error": d.last_error}
                for d in sorted(states.get(x.id, {}).values(), key=lambda d: d.plugin)
            ],
        })  # fmt: skip
    return out


def replay(platform: Platform, event_id: int, plugin: str | None = None) -> int:
    """Put dead-lettered deliveries of ``event_id`` back in line; returns how many were reset."""
    with platform.store.transaction() as tx:
        if tx.outbox_get(event_id) is None:
            from bidkernel.problems import KernelError

            raise KernelError("not-found", f"no outbox event {event_id}")
        return tx.delivery_replay(event_id, plugin)
