"""Durable timers: rows, claimed when due and applied exactly once.

Timers are rows. A process wakes (the alarm clock, an adapter in ``web/alarm.py``) at the
earliest pending due time and on a short safety interval; it then claims due rows with
``SELECT … FOR UPDATE SKIP LOCKED`` and applies each one's effect and marks it done in one
transaction. So each timer's effect happens exactly once on any number of processes, and
timers that fell due while every process was down fire at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel import logcontext
from engine.kernel.ports import Metrics
from engine.kernel.records import claim_incidents
from engine.kernel.uow import note_due
from engine.store import Store
from engine.store.queries import insert_ignore, insert_ignore_many
from engine.timers._tables import timers

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
    note_due(conn, due_at)
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
    for spec in specs:
        note_due(conn, spec["due_at"])
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


# Built once, run with parameters (every declare, acknowledgement and escalation runs them).
_CANCELLABLE = (
    sa.select(timers.c.id)
    .where(
        timers.c.incident_id == sa.bindparam("incident"),
        timers.c.state == "pending",
        timers.c.kind.in_(sa.bindparam("kinds", expanding=True)),
    )
    .with_for_update(skip_locked=True)
)
_CANCEL = (
    timers.update()
    .where(timers.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state="cancelled")
)
_PENDING_OF = sa.select(timers.c.incident_id, timers.c.due_at, timers.c.payload).where(
    timers.c.incident_id.in_(sa.bindparam("ids", expanding=True)),
    timers.c.state == "pending",
    timers.c.kind == sa.bindparam("kind_"),
)


def cancel_pending(conn: Connection, *, incident_id: int, kinds: tuple[str, ...]) -> int:
    """Cancel an incident's pending timers of ``kinds`` that no one is firing right now.

    Rows locked by a claimer are skipped: the claimer will see the incident has moved on.
    """
    found = conn.execute(_CANCELLABLE, {"incident": incident_id, "kinds": list(kinds)})
    ids = [r.id for r in found]
    if ids:
        conn.execute(_CANCEL, {"ids": ids})
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
    ids = claim_incidents(conn, sa.select(t.incident_id).where(due), limit=limit)
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


def pending_of(conn: Connection, ids: list[int], *, kind: str) -> list[Any]:
    """The pending timers of one kind for these incidents, soonest first."""
    if not ids:
        return []
    # Sorted here, not by the database: with ORDER BY due_at, SQLite walked every pending
    # timer in due order (the state and due-time index) instead of finding these incidents'
    # few through the incident index, so each read grew with the number of open incidents.
    found = conn.execute(_PENDING_OF, {"ids": list(ids), "kind_": kind}).all()
    return sorted(found, key=lambda r: r.due_at)


def pending_by_kind(conn: Connection) -> dict[str, int]:
    t = timers.c
    q = sa.select(t.kind, sa.func.count()).where(t.state == "pending").group_by(t.kind)
    return {str(k): int(n) for k, n in conn.execute(q).all()}


def next_due(store: Store) -> datetime | None:
    with store.engine.connect() as conn:
        value: datetime | None = conn.execute(
            sa.select(sa.func.min(timers.c.due_at)).where(timers.c.state == "pending")
        ).scalar()
    if value is not None and value.tzinfo is None:  # min() bypasses the column type
        value = value.replace(tzinfo=UTC)
    return value
