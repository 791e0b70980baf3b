"""Rows the contexts share, read the one way: the incident row (locked or not), users, events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.errors import NotFound
from engine.kernel.models import Event, User
from engine.store.tables import incidents


def incident_row(conn: Connection, incident_id: int, *, lock: bool) -> Row[Any]:
    """The incident's row (``FOR UPDATE`` with ``lock``); NotFound if there is none."""
    q = sa.select(incidents).where(incidents.c.id == incident_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


def event_of(r: Row[Any]) -> Event:
    return Event(
        r.incident_id, r.seq, r.type, r.actor, r.at, dict(r.data or {}), r.prev_hash, r.hash
    )


def user_of(r: Row[Any]) -> User:
    return User(
        r.id,
        r.username,
        r.name,
        r.role,
        r.email,
        r.phone,
        r.timezone,
        bool(r.active),
        int(r.session_version or 0),
    )
