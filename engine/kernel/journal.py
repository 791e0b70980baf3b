"""Append events to an incident's hash-chained timeline (inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.kernel import keys
from engine.kernel.models import Event
from engine.kernel.timeline import GENESIS, canonical_data, event_hash
from engine.store.tables import events, incidents

EVENTS_CHANNEL = "crisis_events"  # PostgreSQL NOTIFY channel: "<incident id>:<seq>"


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
    head = conn.execute(
        sa.select(incidents.c.last_seq, incidents.c.last_hash).where(incidents.c.id == incident_id)
    ).one()
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
    conn.execute(events.insert().values(**fields, hash=digest))
    conn.execute(
        incidents.update()
        .where(incidents.c.id == incident_id)
        .values(last_seq=seq, last_hash=digest)
    )
    if conn.dialect.name == "postgresql":
        # Delivered at commit to every process LISTENing (their live pages wake at once).
        conn.execute(sa.select(sa.func.pg_notify(EVENTS_CHANNEL, f"{incident_id}:{seq}")))
    return Event(incident_id, seq, type, actor, at, clean, prev, digest)
