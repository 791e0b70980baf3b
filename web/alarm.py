"""The alarm clock: APScheduler (memory job store) wakes this process when a timer falls due.

An adapter around the engine's durable timers (``engine.timers.schedule``): it only decides
*when* to look; what is due is read from the database, claimed with SKIP LOCKED and applied there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from engine.kernel.ports import Clock, Metrics
from engine.store import DatabaseError, Store
from engine.timers.schedule import Handler, Source, fire_due, next_due

log = logging.getLogger("crisis.timers")


class AlarmClock:
    """Wake at the earliest pending due time (and every ``safety`` seconds) and fire timers."""

    def __init__(
        self,
        *,
        store: Store,
        handlers: Mapping[str, Handler],
        clock: Clock,
        node: str,
        safety: float = 2.0,
        batch: int = 200,
        on_fired: Callable[[int], None] | None = None,
        sources: Sequence[Source] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.last_pass: float | None = None  # time.monotonic() of the last complete pass
        self.handlers = handlers
        self.clock = clock
        self.node = node
        self.safety = safety
        self.batch = batch
        self.on_fired = on_fired
        self.sources = tuple(sources)
        self._lock = threading.Lock()
        self._armed: datetime | None = None
        self._busy = False
        self._again = False
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )

    def start(self) -> None:
        self._scheduler.add_job(self.wake, "interval", seconds=self.safety, id="safety")
        self._scheduler.start()
        self.rearm(self.clock.now())  # fire whatever fell due while we were down

    def stop(self) -> None:
        self._scheduler.shutdown(wait=True)

    def alive(self) -> bool:
        """Whether a pass completed recently (within three safety intervals, at least 10 s)."""
        return self.last_pass is not None and time.monotonic() - self.last_pass < max(
            3 * self.safety, 10.0
        )

    def rearm(self, when: datetime) -> None:
        """Make sure the process wakes no later than ``when``."""
        with self._lock:
            if self._armed is not None and self._armed <= when:
                return
            self._armed = when
        if self._scheduler.running:
            self._scheduler.add_job(
                self.wake,
                "date",
                run_date=when,
                id="alarm",
                replace_existing=True,
                max_instances=4,
            )

    def wake(self) -> None:
        """Fire everything due, then arm for the next pending timer.

        A wake that arrives while another is draining does not wait and is not lost: it
        asks the running one to drain once more before it re-arms.
        """
        with self._lock:
            if self._busy:
                self._again = True
                return
            self._busy = True
        try:
            while True:
                with self._lock:
                    self._armed = None  # whatever was armed is served by this pass
                    self._again = False
                self._drain()
                with self._lock:
                    if not self._again:
                        self._busy = False
                        break
        except BaseException:
            with self._lock:
                self._busy = False
            raise
        try:
            candidates = [next_due(self.store), *(s.next_due() for s in self.sources)]
        except DatabaseError:
            return  # the safety interval wakes us again
        upcoming = min((c for c in candidates if c is not None), default=None)
        if upcoming is not None:
            self.rearm(max(upcoming, self.clock.now()))

    def _drain(self) -> None:
        try:
            while True:
                n = fire_due(
                    self.store,
                    self.handlers,
                    now=self.clock.now(),
                    node=self.node,
                    limit=self.batch,
                    stamp=self.clock.now,
                    metrics=self.metrics,
                )
                for source in self.sources:
                    while True:
                        m = source.fire()
                        n += m
                        if m < self.batch:
                            break
                if n and self.on_fired:
                    self.on_fired(n)
                if n < self.batch:
                    self.last_pass = time.monotonic()
                    return
        except DatabaseError:
            log.exception("alarm clock could not reach the database; retrying")
