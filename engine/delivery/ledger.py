"""What delivery can tell the other contexts about messages sent: who was paged, how many
messages wait or failed. Read-only; the outbox is the only writer of ``deliveries``."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery._tables import deliveries


def was_paged(conn: Connection, *, incident_id: int, user_id: int) -> bool:
    d = deliveries.c
    q = sa.select(d.id).where(d.incident_id == incident_id, d.kind == "page", d.user_id == user_id)
    return conn.execute(q.limit(1)).first() is not None


def last_paged(conn: Connection, *, user_id: int, among: Iterable[int]) -> int | None:
    """Of the incidents ``among``, the one that paged ``user_id`` most recently."""
    ids = set(among)
    if not ids:
        return None
    d = deliveries.c
    row = conn.execute(
        sa.select(d.incident_id)
        .where(d.user_id == user_id, d.kind == "page", d.incident_id.in_(ids))
        .order_by(d.id.desc())
        .limit(1)
    ).first()
    return None if row is None else int(row.incident_id)


def counts_by_status(conn: Connection) -> dict[str, int]:
    q = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    return {str(s): int(n) for s, n in conn.execute(q).all()}


def last_error(conn: Connection, delivery_id: int) -> str | None:
    """What the provider last said about a delivery that failed."""
    q = sa.select(deliveries.c.last_error).where(deliveries.c.id == delivery_id)
    value = conn.execute(q).scalar()
    return None if value is None else str(value)
