"""Append events to an incident's hash-chained timeline (inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel import keys
from engine.kernel._tables import events, incidents
from engine.kernel.models import Event
from engine.kernel.timeline import GENESIS, canonical_data, event_hash

EVENTS_CHANNEL = "crisis_events"  # PostgreSQL NOTIFY channel: "<incident id>:<seq>"

# Built once: an append runs them with its values as parameters, which costs a fraction of
# building and hashing new statements each time (events are the most written rows).
_HEAD = sa.select(incidents.c.last_seq, incidents.c.last_hash).where(
    incidents.c.id == sa.bindparam("incident")
)
_APPEND = events.insert()
_MOVE = (
    incidents.update()
    .where(incidents.c.id == sa.bindparam("incident"))
    .values(last_seq=sa.bindparam("seq_"), last_hash=sa.bindparam("hash_"))
)
_NOTIFY = sa.select(sa.func.pg_notify(EVENTS_CHANNEL, sa.bindparam("payload")))


def append_event(
    conn: Connection,
    *,
    incident_id: int,
    type: str,
    actor: str,
    at: datetime,
    data: Mapping[str, Any],
) -> Event:
    """Append one event to an incident's hash chain and move the chain's head.

    The caller holds the incident row (``FOR UPDATE`` on PostgreSQL, the write lock on
    SQLite), so two appends to one incident cannot interleave.
    """
    head = conn.execute(_HEAD, {"incident": incident_id}).one()
    seq = head.last_seq + 1
    prev = head.last_hash or GENESIS
    clean = canonical_data(data)
    fields: dict[str, Any] = {
        "incident_id": incident_id,
        "seq": seq,
        "type": type,
        "actor": actor,
        "at": at,
        "data": clean,
        "prev_hash": prev,
    }
    digest = event_hash(**fields, key=keys.of(conn).audit)
    conn.execute(_APPEND, {**fields, "hash": digest})
    conn.execute(_MOVE, {"incident": incident_id, "seq_": seq, "hash_": digest})
    if conn.dialect.name == "postgresql":
        # Delivered at commit to every process LISTENing (their live pages wake at once).
        conn.execute(_NOTIFY, {"payload": f"{incident_id}:{seq}"})
    return Event(incident_id, seq, type, actor, at, clean, prev, digest)


def chains(conn: Connection, *, lock: bool = False) -> Iterator[tuple[Any, list[Row[Any]]]]:
    """Each incident's chain head (id, last_seq, last_hash) and its events in order."""
    q = sa.select(incidents.c.id, incidents.c.last_seq, incidents.c.last_hash).order_by(
        incidents.c.id
    )
    for head in conn.execute(q.with_for_update() if lock else q).all():
        rows = conn.execute(
            sa.select(events)
            .where(events.c.incident_id == head.id)
            .order_by(events.c.seq, events.c.id)
        ).all()
        yield head, list(rows)


def rewrite_chain(
    conn: Connection, incident_id: int, hashes: Sequence[tuple[int, str, str]]
) -> None:
    """Store re-computed (event id, prev_hash, hash) for a chain and move its head."""
    for event_id, prev, digest in hashes:
        conn.execute(
            events.update().where(events.c.id == event_id).values(prev_hash=prev, hash=digest)
        )
    if hashes:
        conn.execute(
            incidents.update().where(incidents.c.id == incident_id).values(last_hash=hashes[-1][2])
        )


def events_after(conn: Connection, incident_id: int, after_seq: int) -> list[Row[Any]]:
    """The incident's events after ``after_seq``, in order."""
    return list(
        conn.execute(
            sa.select(events)
            .where(events.c.incident_id == incident_id, events.c.seq > after_seq)
            .order_by(events.c.seq)
        ).all()
    )
