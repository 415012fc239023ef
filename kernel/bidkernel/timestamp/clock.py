"""The kernel's trusted clock: every deadline and opening decision goes through it.

Model
-----
Trusted time is an *anchor* (a wall-clock reading the kernel trusts, with its uncertainty) carried
forward by the monotonic clock: ``t = anchor_wall + (monotonic() - anchor_mono)``. Stepping the system
clock therefore cannot move trusted time, and readings never go backwards (each reading is at least the
previous one).

* **System mode** (``reference=None``): the operator declares the system clock trustworthy (NTP/PTP
  disciplined, typically when the kernel is its own TSA). The anchor is the system clock at start and is
  re-taken from it every ``resync_interval`` while the two agree. If the system clock *steps* away from
  trusted time by more than ``max_skew`` (e.g. 300 s back or forward), the clock refuses with
  :class:`UntrustedTimeError` carrying the measured skew, until the system clock agrees again or an
  operator calls :meth:`TrustedClock.reset_to_system`.
* **Reference mode**: the anchor comes from a time reference, in practice an external RFC 3161 TSA
  (:class:`bidkernel.timestamp.client.TSAReference`): ``genTime`` placed at the midpoint of the round
  trip, uncertainty = half the round trip + the TSA's stated accuracy. The reference is re-queried every
  ``resync_interval`` (in a background thread, so readers never wait on the network while the anchor is
  within ``grace``); if it stays unreachable for longer than ``grace`` the clock refuses. A system clock
  that disagrees with trusted time is re-checked against the reference at once: if the reference
  confirms trusted time the skew is only reported (:meth:`status`), otherwise the clock refuses.

Decisions are conservative with respect to the uncertainty ``u``: :meth:`is_before` is true only if
``t + u < deadline`` (no late acceptance), :meth:`has_reached` only if ``t - u >= instant`` (no early
opening). Both raise :class:`UntrustedTimeError` when time cannot be trusted, so callers refuse.

The system and monotonic sources are injectable callables so tests can step the system clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bidkernel.timestamp.errors import TimestampError, UntrustedTimeError


@dataclass(frozen=True)
class TimeReading:
    """A trusted instant: ``time`` (UTC) within ``±uncertainty`` seconds.

    ``skew`` is the system clock minus trusted time at the reading (seconds), for reporting.
    """

    time: datetime
    uncertainty: float
    source: str
    skew: float

    @property
    def timestamp(self) -> float:
        return self.time.timestamp()


@dataclass(frozen=True)
class ReferenceSample:
    """One answer of a time reference: its time (UTC seconds since the epoch) and stated accuracy."""

    time: float
    accuracy: float


class TimeReference(Protocol):
    """Something that tells the time with authority, e.g. an RFC 3161 TSA (its genTime)."""

    name: str

    def sample(self) -> ReferenceSample:
        """Ask once; raise :class:`TimestampError` when no trustworthy answer comes."""
        ...


@dataclass(frozen=True)
class ClockStatus:
    trusted: bool
    source: str
    system_skew: float | None
    reference_offset: float | None
    uncertainty: float | None
    seconds_since_sync: float | None
    last_error: str | None


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _as_ts(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("deadlines must be timezone-aware datetimes")
        return moment.timestamp()
    return float(moment)


class TrustedClock:
    def __init__(
        self,
        *,
        reference: TimeReference | None = None,
        system: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        max_skew: float = 1.0,
        system_accuracy: float = 0.05,
        resync_interval: float = 60.0,
        grace: float = 300.0,
        drift_ppm: float = 200.0,
        background_sync: bool = True,
    ) -> None:
        if max_skew <= 0 or system_accuracy < 0 or resync_interval <= 0 or grace < resync_interval:
            raise ValueError("clock bounds: max_skew > 0, system_accuracy >= 0, 0 < resync_interval <= grace")
        self._reference = reference
        self._system = system
        self._mono = monotonic
        self.max_skew = max_skew
        self.system_accuracy = system_accuracy
        self.resync_interval = resync_interval
        self.grace = grace
        self._drift = drift_ppm * 1e-6
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self.background_sync = background_sync
        self._anchor_wall: float | None = None
        self._anchor_mono = 0.0
        self._anchor_unc = 0.0
        self._last_sync_mono: float | None = None
        self._last_returned = float("-inf")
        self._last_skew: float | None = None
        self._last_offset: float | None = None
        self._last_error: str | None = None
        self._confirmed_skew: float | None = None
        if reference is None:
            self._anchor_to_system()

    @property
    def source(self) -> str:
        return f"reference:{self._reference.name}" if self._reference is not None else "system"

    # --- anchoring --------------------------------------------------------------------------------
    def _anchor_to_system(self) -> None:
        m = self._mono()
        self._anchor_wall, self._anchor_mono, self._anchor_unc = self._system(), m, self.system_accuracy
        self._last_sync_mono = m

    def _projected(self, m: float) -> tuple[float, float]:
        assert self._anchor_wall is not None
        elapsed = m - self._anchor_mono
        return self._anchor_wall + elapsed, self._anchor_unc + self._drift * elapsed

    def sync(self) -> float:
        """Query the reference once and re-anchor; return its offset from the previous trusted time
        (seconds; 0.0 on the first sync). Raises :class:`TimestampError` if the reference fails.
        The network round trip happens outside the clock's lock, so readers are not held up."""
        if self._reference is None:
            raise TimestampError("this clock has no time reference", code="clock.no_reference")
        with self._sync_lock:
            m0 = self._mono()
            try:
                sample = self._reference.sample()
            except TimestampError as exc:
                with self._lock:
                    self._last_error = f"{self._reference.name}: {exc}"
                raise
            m1 = self._mono()
            with self._lock:
                mid = (m0 + m1) / 2
                offset = 0.0
                if self._anchor_wall is not None:
                    predicted, _ = self._projected(mid)
                    offset = sample.time - predicted
                self._anchor_wall, self._anchor_mono = sample.time, mid
                self._anchor_unc = (m1 - m0) / 2 + sample.accuracy
                self._last_sync_mono = m1
                self._last_offset = offset
                self._last_error = None
                return offset

    def _sync_quietly(self) -> None:
        try:
            self.sync()
        except TimestampError:
            pass  # recorded in last_error; judged against the grace period by read()
        finally:
            self._background = None

    def _maybe_resync(self) -> None:
        """Re-query the reference when due: in the background while the current anchor is still within
        the grace period, in the caller's thread when there is no anchor or the grace is used up."""
        m = self._mono()
        last = self._last_sync_mono
        if last is not None and m - last < self.resync_interval:
            return
        if self._anchor_wall is None or last is None or m - last > self.grace or not self.background_sync:
            self._sync_quietly()
            return
        with self._lock:
            if self._background is not None:
                return
            self._background = threading.Thread(target=self._sync_quietly, name="bidkernel-clock-sync", daemon=True)
            self._background.start()

    def reset_to_system(self) -> None:
        """Operator action: take the system clock as trusted again (system mode only), e.g. after
        correcting it. Trusted time still never goes backwards: until the system clock passes the last
        reading, readings hold at that instant."""
        if self._reference is not None:
            raise TimestampError("reset_to_system is for system mode; use sync()", code="clock.has_reference")
        with self._lock:
            self._anchor_to_system()
            self._last_error = None

    # --- reading ----------------------------------------------------------------------------------
    def read(self) -> TimeReading:
        """The trusted time now, or :class:`UntrustedTimeError` (which callers must turn into a refusal)."""
        if self._reference is not None:
            self._maybe_resync()
        for _ in range(2):
            with self._lock:
                m = self._mono()
                if self._reference is not None:
                    self._check_reference_age(m)
                t, unc = self._projected(m)
                skew = self._system() - t
                self._last_skew = skew
                step = abs(skew) > self.max_skew + unc
                if step and not self._step_confirmed(skew, m):
                    msg = self._skew_message(skew)
                    if self._reference is None:
                        self._last_error = msg
                        raise UntrustedTimeError(msg + "; refusing until it agrees again", code="clock.skew", skew=skew)
                else:
                    if not step and self._reference is None and m - self._anchor_mono >= self.resync_interval:
                        # follow a disciplined system clock (NTP slews it) while it agrees with trusted time
                        self._anchor_to_system()
                        t, unc = self._projected(m)
                    t = max(t, self._last_returned)
                    self._last_returned = t
                    return TimeReading(_utc(t), unc, self.source, skew)
            # reference mode, an unconfirmed step: ask the reference, outside the lock (lock order:
            # _sync_lock is never taken while holding _lock), then read again
            self._confirm_step(skew, msg)
        raise UntrustedTimeError(self._skew_message(skew) + "; not confirmed", code="clock.skew", skew=skew)

    def _check_reference_age(self, m: float) -> None:
        if self._anchor_wall is None or self._last_sync_mono is None:
            raise UntrustedTimeError(
                f"no trusted time: the time reference has not answered ({self._last_error})",
                code="clock.no_reference_time",
            )
        age = m - self._last_sync_mono
        if age > self.grace:
            raise UntrustedTimeError(
                f"time reference unreachable for {age:.1f} s (grace {self.grace:.0f} s): {self._last_error}",
                code="clock.reference_lost",
                skew=self._last_skew,
            )

    def _skew_message(self, skew: float) -> str:
        direction = "behind" if skew < 0 else "ahead of"
        return f"system clock is {abs(skew):.3f} s {direction} trusted time (bound {self.max_skew:g} s)"

    def _step_confirmed(self, skew: float, m: float) -> bool:
        """Reference mode: a step already confirmed by a recent reference answer is only reported."""
        if self._reference is None or self._confirmed_skew is None or self._last_sync_mono is None:
            return False
        recent = m - self._last_sync_mono < self.resync_interval
        return recent and abs(skew - self._confirmed_skew) <= self.max_skew

    def _confirm_step(self, skew: float, msg: str) -> None:
        """Reference mode: trusted time does not come from the system clock; confirm it with the reference
        once per step."""
        try:
            offset = self.sync()
        except TimestampError as exc:
            raise UntrustedTimeError(
                msg + f" and the time reference cannot confirm trusted time: {exc}", code="clock.skew", skew=skew
            ) from None
        with self._lock:
            _, unc = self._projected(self._mono())
            if abs(offset) > self.max_skew + unc:
                raise UntrustedTimeError(
                    msg + f"; the reference moved trusted time by {offset:+.3f} s", code="clock.skew", skew=skew
                )
            self._confirmed_skew = skew
            self._last_error = msg + " (trusted time confirmed by the reference)"

    def now(self) -> datetime:
        return self.read().time

    def is_before(self, deadline: datetime | float) -> bool:
        """True only if the whole uncertainty interval lies before ``deadline`` (no late acceptance)."""
        r = self.read()
        return r.timestamp + r.uncertainty < _as_ts(deadline)

    def has_reached(self, instant: datetime | float) -> bool:
        """True only if the whole uncertainty interval lies at or after ``instant`` (no early opening)."""
        r = self.read()
        return r.timestamp - r.uncertainty >= _as_ts(instant)

    def status(self) -> ClockStatus:
        """A report for operators (and /health): never raises."""
        try:
            r = self.read()
            trusted, unc = True, r.uncertainty
        except UntrustedTimeError:
            trusted, unc = False, None
        with self._lock:
            since = None if self._last_sync_mono is None else self._mono() - self._last_sync_mono
            return ClockStatus(trusted, self.source, self._last_skew, self._last_offset, unc, since, self._last_error)
