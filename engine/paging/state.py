"""An incident's escalation ladder as paging keeps it: generation, start, stop, step, spent.

The row is paging's own (``escalation_ladders``); an incident without one never had a ladder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.paging._tables import ladders
from engine.timers import schedule as timers


@dataclass(frozen=True)
class Ladder:
    incident_id: int
    generation: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    step: str | None = None
    exhausted: bool = False


def ladder_of(conn: Connection, incident_id: int) -> Ladder:
    """The incident's ladder (a blank one if it never had one)."""
    return ladders_of(conn, [incident_id]).get(incident_id, Ladder(incident_id))


_LADDERS = sa.select(ladders).where(
    ladders.c.incident_id.in_(sa.bindparam("ids", expanding=True))
)  # built once: read on every declare, page and listing
_RESTART = ladders.update().where(ladders.c.incident_id == sa.bindparam("incident"))
_START = ladders.insert()


def ladders_of(conn: Connection, ids: Iterable[int]) -> dict[int, Ladder]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = conn.execute(_LADDERS, {"ids": sorted(wanted)}).all()
    return {
        r.incident_id: Ladder(
            r.incident_id, r.generation, r.started_at, r.stopped_at, r.step, bool(r.exhausted)
        )
        for r in rows
    }


def started(conn: Connection, incident_id: int, *, generation: int, now: datetime) -> None:
    """A new generation starts now (and is not spent)."""
    values: dict[str, Any] = {"generation": generation, "started_at": now, "exhausted": False}
    done = conn.execute(_RESTART, {"incident": incident_id, **values})
    if done.rowcount == 0:
        conn.execute(_START, {"incident_id": incident_id, **values})


def stopped(conn: Connection, incident_id: int, *, now: datetime) -> None:
    conn.execute(
        ladders.update()
        .where(ladders.c.incident_id == incident_id, ladders.c.stopped_at.is_(None))
        .values(stopped_at=now)
    )


def reached(conn: Connection, incident_id: int, *, step: str) -> None:
    conn.execute(ladders.update().where(ladders.c.incident_id == incident_id).values(step=step))


def spent(conn: Connection, incident_id: int) -> None:
    conn.execute(
        ladders.update().where(ladders.c.incident_id == incident_id).values(exhausted=True)
    )


def stopped_among(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` whose ladder was stopped."""
    wanted = set(ids)
    if not wanted:
        return set()
    q = sa.select(ladders.c.incident_id).where(
        ladders.c.incident_id.in_(wanted), ladders.c.stopped_at.is_not(None)
    )
    return set(conn.execute(q).scalars())


def statuses(
    conn: Connection, incidents: Iterable[tuple[int, datetime | None]]
) -> dict[int, dict[str, Any] | None]:
    """For (incident id, resolved_at) pairs: the ladder's step, next wake-up, whether it is
    spent or stopped (None: the incident has no ladder). A fixed number of queries."""
    pairs = list(incidents)
    known = ladders_of(conn, [i for i, _ in pairs])
    pending = timers.pending_of(conn, list(known), kind="escalation_step")
    out: dict[int, dict[str, Any] | None] = {}
    for incident_id, resolved_at in pairs:
        lad = known.get(incident_id)
        if lad is None or lad.started_at is None:
            out[incident_id] = None
            continue
        next_at = next(
            (
                t.due_at
                for t in pending
                if t.incident_id == incident_id and t.payload.get("generation") == lad.generation
            ),
            None,
        )
        active = lad.stopped_at is None and resolved_at is None
        out[incident_id] = {
            "step": lad.step,
            "next_at": next_at if active else None,
            "exhausted": lad.exhausted,
            "stopped": not active,
        }
    return out
