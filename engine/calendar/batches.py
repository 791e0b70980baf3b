"""Scheduled sends a platform cannot list, registered by marketing: SendGrid's mail sends
with a ``batch_id`` and ``send_at`` are known only to whoever sent them, so marketing's
sender tells us (``POST /api/v1/connectors/{name}/batches``) and every scan of that
connector includes them. They carry our own tags and regions, as declared."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.calendar._tables import platform_batches
from engine.kernel.ports import ExternalItem

OURS_TAG, OURS_REGION = "ours:tag", "ours:region"  # labels that are already our names


def register(
    conn: Connection,
    *,
    connector: str,
    batch_id: str,
    title: str,
    send_at: datetime,
    tags: Sequence[str],
    regions: Sequence[str],
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Record (or update) a scheduled send; returns it."""
    b = platform_batches.c
    values = {
        "title": title,
        "send_at": send_at,
        "tags": list(tags),
        "regions": list(regions),
        "created_by": actor,
    }
    done = conn.execute(
        platform_batches.update()
        .where(b.connector == connector, b.batch_id == batch_id)
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(
            platform_batches.insert().values(
                connector=connector, batch_id=batch_id, created_at=now, **values
            )
        )
    row = conn.execute(
        sa.select(platform_batches).where(b.connector == connector, b.batch_id == batch_id)
    ).one()
    return {
        "connector": row.connector,
        "batch_id": row.batch_id,
        "title": row.title,
        "send_at": row.send_at,
        "tags": list(row.tags),
        "regions": list(row.regions),
    }


def items(conn: Connection, connector: str, *, now: datetime) -> list[ExternalItem]:
    """The connector's registered sends still ahead, as items a scan found."""
    b = platform_batches.c
    rows = conn.execute(
        sa.select(platform_batches)
        .where(b.connector == connector, b.send_at > now)
        .order_by(b.send_at, b.id)
    ).all()
    return [
        ExternalItem(
            ref=f"batch:{r.batch_id}",
            kind="scheduled_send",
            title=r.title,
            send_at=r.send_at,
            labels={OURS_TAG: tuple(r.tags), OURS_REGION: tuple(r.regions)},
            fingerprint=r.batch_id,
            state={"batch_id": r.batch_id},
            active=True,
        )
        for r in rows
    ]
