"""One pace per sender: messages per second, as the sender's throughput allows.

A sender is one number, short code or Messaging Service (one channel's sender). A sender with
a configured rate has a schedule of slots ``1 / rate`` apart; a send takes the next free slot
and waits for it. When the provider answers "too many requests" (429), that sender alone
halves its rate (at most once a second), then climbs back a twentieth of its rate per success:
additive increase, multiplicative decrease, as TCP does. The refused message itself waits its
Retry-After (the outbox's backoff). A sender with no configured rate goes as fast as the
worker's window; a 429 there delays only the refused message (configure the rate you were
sold to have the sender slow down).

Each sender also keeps its recent share of transient failures (a moving average over about
the last 20 sends). While at least one send in four succeeds, a failure is a passing fault
and its retry comes within ``QUICK_RETRY`` seconds (or its Retry-After); once three in four
fail, the provider is in trouble and retries back off exponentially, as the outbox always
does. The worker's event loop is the only caller, so there is no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

FLOOR = 1 / 16  # a throttled sender keeps at least this share of its configured rate
CLIMB = 1 / 20  # and regains this share of it per successful send
CALM = 1.0  # seconds after a halving during which another 429 does not halve again
QUICK_RETRY = 5.0  # seconds: the longest wait before retrying a passing fault
TROUBLE = 0.75  # share of recent sends failing above which retries back off in full
WEIGHT = 1 / 20  # of the newest outcome in the moving average
LINE = 5.0  # seconds: how far beyond the next free slot rows given back are spread


class Pacer:
    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.current = rate  # None: unpaced
        self._clock = clock
        self._next = clock()  # the next free slot
        self._later = 0.0  # the last place in line handed to a row given back
        self._halved = -CALM
        self.failing = 0.0  # recent share of sends that failed transiently

    def delay(self) -> float:
        """Seconds until the next free slot, without taking it."""
        return max(0.0, self._next - self._clock())

    def take(self) -> float:
        """Take the next free slot; the seconds to wait for it."""
        now = self._clock()
        at = max(now, self._next)
        if self.current:
            self._next = at + 1 / self.current
        return at - now

    def later(self) -> float:
        """Seconds until the turn of a row given back to the database: after the slots taken
        and the rows given back before it (a place in line, not a slot taken)."""
        now = self._clock()
        free = max(self._next, now)
        step = 1 / self.current if self.current else 0.0
        # Rows that come back and are given back again would count twice: the line is at
        # most LINE seconds beyond the next free slot, and starts again from it.
        self._later = max(self._later, free) + step
        if self._later > free + LINE:
            self._later = free + step
        return self._later - now

    def throttled(self) -> None:
        """The provider said too many: halve this sender's rate (once per CALM seconds)."""
        now = self._clock()
        if self.rate is None or self.current is None or now - self._halved < CALM:
            return
        self._halved = now
        self.current = max(self.rate * FLOOR, self.current / 2)

    def failed(self) -> float | None:
        """A transient failure: the longest its retry should wait (None: the full backoff)."""
        self.failing += (1 - self.failing) * WEIGHT
        return QUICK_RETRY if self.failing < TROUBLE else None

    def succeeded(self) -> None:
        self.failing -= self.failing * WEIGHT
        if self.rate is not None and self.current is not None and self.current < self.rate:
            self.current = min(self.rate, self.current + self.rate * CLIMB)
