"""What delivery can tell the other contexts about messages sent: who was paged, how many
messages wait or failed. Read-only; the outbox is the only writer of ``deliveries``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

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


def credential_problems(conn: Connection, *, incident_id: int) -> list[dict[str, Any]]:
    """Per channel, where the provider refused our credentials for this incident's messages
    and nothing has gone through on that channel since: what it said, how many messages wait
    for a retry and how many were given up. Empty once the channel delivers again."""
    d = deliveries.c
    bad = conn.execute(
        sa.select(d.channel, d.status, d.last_error, d.updated_at)
        .where(d.incident_id == incident_id, d.error_kind == "credentials")
        .where(d.status.in_(("pending", "sending", "failed", "dead")))
        .order_by(d.updated_at)
    ).all()
    if not bad:
        return []
    since_ok = dict(
        conn.execute(
            sa.select(d.channel, sa.func.max(d.delivered_at))
            .where(d.channel.in_({r.channel for r in bad}), d.delivered_at.is_not(None))
            .group_by(d.channel)
        ).all()
    )
    out: dict[str, dict[str, Any]] = {}
    for r in bad:
        ok = since_ok.get(r.channel)
        if ok is not None and _aware(ok) >= _aware(r.updated_at):
            continue  # the channel delivered after this failure: fixed
        p = out.setdefault(r.channel, {"channel": r.channel, "waiting": 0, "given_up": 0})
        p["waiting" if r.status in ("pending", "sending") else "given_up"] += 1
        p["error"], p["at"] = r.last_error, _aware(r.updated_at)
    return list(out.values())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def provider_id_of(conn: Connection, *, kind: str, ref_id: int, channel: str) -> str | None:
    """The provider's id of a message delivered on ``channel`` (a published post)."""
    d = deliveries.c
    row = conn.execute(
        sa.select(d.provider_id)
        .where(d.kind == kind, d.ref_id == ref_id, d.channel == channel)
        .where(d.status.in_(("sent", "delivered")), d.provider_id.is_not(None))
        .order_by(d.id)
        .limit(1)
    ).first()
    return None if row is None else str(row.provider_id)
