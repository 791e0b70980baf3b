"""Durable timers and the alarm clock that wakes a process when one falls due.

Timers are rows. A process wakes (APScheduler, memory job store, only as an alarm clock) at
the earliest pending due time and on a short safety interval; it then claims due rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and applies each one's effect and marks it done in one
transaction. So each timer's effect happens exactly once on any number of processes, and
timers that fell due while every process was down fire at start-up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Connection, Row

from engine import logcontext
from engine.ports import Clock, Metrics
from engine.store import Store
from engine.store.queries import insert_ignore, insert_ignore_many
from engine.store.tables import incidents, timers

log = logging.getLogger("crisis.timers")

Handler = Callable[[Connection, Row[Any], datetime], str]


@dataclass(frozen=True)
class Source:
    """Other due work the alarm clock drives: fire what is due, say when more falls due."""

    fire: Callable[[], int]
    next_due: Callable[[], datetime | None]


MAX_ATTEMPTS = 5


def schedule(
    conn: Connection,
    *,
    kind: str,
    due_at: datetime,
    dedupe_key: str,
    now: datetime,
    incident_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Add a timer once per dedupe key, in the caller's transaction."""
    insert_ignore(
        conn,
        timers,
        kind=kind,
        incident_id=incident_id,
        due_at=due_at,
        state="pending",
        payload=dict(payload or {}),
        dedupe_key=dedupe_key,
        attempts=0,
        created_at=now,
    )


def schedule_many(conn: Connection, specs: list[dict[str, Any]], *, now: datetime) -> None:
    """Add several timers in one statement (each a dict of ``schedule``'s keywords)."""
    insert_ignore_many(
        conn,
        timers,
        [
            {
                "kind": spec["kind"],
                "incident_id": spec.get("incident_id"),
                "due_at": spec["due_at"],
                "state": "pending",
                "payload": dict(spec.get("payload") or {}),
                "dedupe_key": spec["dedupe_key"],
                "attempts": 0,
                "created_at": now,
            }
            for spec in specs
        ],
    )


def cancel_pending(conn: Connection, *, incident_id: int, kinds: tuple[str, ...]) -> int:
    """Cancel an incident's pending timers of ``kinds`` that no one is firing right now.

    Rows locked by a claimer are skipped: the claimer will see the incident has moved on.
    """
    t = timers.c
    locked_free = (
        sa.select(t.id)
        .where(t.incident_id == incident_id, t.state == "pending", t.kind.in_(kinds))
        .with_for_update(skip_locked=True)
    )
    ids = [r.id for r in conn.execute(locked_free)]
    if ids:
        conn.execute(timers.update().where(t.id.in_(ids)).values(state="cancelled"))
    return len(ids)


def fire_due(
    store: Store,
    handlers: Mapping[str, Handler],
    *,
    now: datetime,
    node: str,
    limit: int = 100,
    stamp: Callable[[], datetime] | None = None,
    metrics: Metrics | None = None,
) -> int:
    """Claim up to ``limit`` due timers and apply each in one transaction; return how many.

    Each timer runs in a savepoint: one that raises is retried later (and given up after
    MAX_ATTEMPTS) without undoing the others. ``stamp`` (default: ``now``) gives each
    timer's ``fired_at``, so lateness can be measured per timer.
    """
    t = timers.c
    fired = 0
    with store.transaction() as conn:
        for row in _claim(conn, now=now, limit=limit):
            handler = handlers.get(row.kind)
            try:
                with logcontext.about(row.incident_id), conn.begin_nested():
                    if handler is None:
                        raise LookupError(f"no handler for timer kind {row.kind!r}")
                    outcome = handler(conn, row, now)
                    fired_at = stamp() if stamp else now
                    conn.execute(
                        timers.update()
                        .where(t.id == row.id)
                        .values(
                            state="done",
                            outcome=outcome[:32],
                            fired_at=fired_at,
                            fired_by=node,
                            attempts=row.attempts + 1,
                        )
                    )
                fired += 1
                if metrics is not None:
                    metrics.timer_fired(row.kind, (fired_at - row.due_at).total_seconds())
            except Exception as exc:
                log.exception("timer %s (%s) failed", row.id, row.kind)
                attempts = row.attempts + 1
                conn.execute(
                    timers.update()
                    .where(t.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=f"{type(exc).__name__}: {exc}"[:1000],
                        state="failed" if attempts >= MAX_ATTEMPTS else "pending",
                        due_at=now + timedelta(seconds=2**attempts),
                    )
                )
    return fired


def _claim(conn: Connection, *, now: datetime, limit: int) -> list[Row[Any]]:
    """Lock due timers, always locking their incident first.

    Every path that touches an incident's timers (acknowledge, amend, resolve, fire) locks
    the incident row first; claiming incidents with SKIP LOCKED keeps that order, so workers
    never deadlock and never wait on each other: a busy incident is simply left for the
    worker that holds it.
    """
    t = timers.c
    due = sa.and_(t.state == "pending", t.due_at <= now)
    owned = (
        sa.select(incidents.c.id)
        .where(incidents.c.id.in_(sa.select(t.incident_id).where(due)))
        .order_by(incidents.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(owned).scalars())
    rows: list[Row[Any]] = []
    if ids:
        rows += conn.execute(
            sa.select(timers)
            .where(due, t.incident_id.in_(ids))
            .order_by(t.due_at, t.id)
            .limit(limit)
            .with_for_update()
        ).all()
    rows += conn.execute(
        sa.select(timers)
        .where(due, t.incident_id.is_(None))
        .order_by(t.due_at, t.id)
        .limit(max(0, limit - len(rows)))
        .with_for_update(skip_locked=True)
    ).all()
    return rows


def next_due(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        value: datetime | None = conn.execute(
            sa.select(sa.func.min(timers.c.due_at)).where(timers.c.state == "pending")
        ).scalar()
    if value is not None and value.tzinfo is None:  # min() bypasses the column type
        value = value.replace(tzinfo=UTC)
    return value


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
        except sa.exc.SQLAlchemyError:
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
        except sa.exc.SQLAlchemyError:
            log.exception("alarm clock could not reach the database; retrying")
