"""Provider delivery receipts applied to outbox rows: in order, and never lost.

A status callback can arrive before the worker has stored the message's provider id (the
provider answers the send, then calls back within milliseconds, while our write is still on its
way). Such a receipt is kept in ``early_receipts`` and applied as soon as the id is stored
(in the same transaction that stores it, and by a sweep that catches the two crossing).
Receipts can also arrive out of order: a later stage never moves a row back to an earlier one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.delivery._tables import deliveries, early_receipts
from engine.kernel.journal import append_event
from engine.kernel.records import lock_incident

KEEP_EARLY = timedelta(days=1)
# Provider-neutral stages (notifiers translate their provider's words into these); a receipt
# of a lower stage than the row's is only noted, and the first final word stands.
STAGE = {"other": 0, "accepted": 1, "sending": 2, "sent": 3, "delivered": 4, "failed": 4, "read": 5}
FINAL = {"delivered": "delivered", "read": "delivered", "failed": "failed"}


def apply_or_keep(
    conn: Connection,
    *,
    provider_id: str,
    status: str,
    code: str | None,
    now: datetime,
    detail: str | None = None,
) -> bool:
    """Apply the receipt, or keep it for when its row's provider id is stored."""
    row = conn.execute(
        sa.select(deliveries).where(deliveries.c.provider_id == provider_id).with_for_update()
    ).first()
    if row is None:
        conn.execute(
            early_receipts.insert().values(
                provider_id=provider_id[:200],
                status=status[:32],
                code=code,
                detail=(detail or "")[:32] or None,
                received_at=now,
            )
        )
        return False
    _apply(conn, row, status=status, code=code, now=now, detail=detail)
    return True


def apply_early(conn: Connection, *, provider_id: str | None, now: datetime) -> int:
    """Apply the kept receipts of one provider id (just stored), oldest first."""
    if not provider_id:
        return 0
    kept = conn.execute(
        sa.select(early_receipts)
        .where(early_receipts.c.provider_id == provider_id)
        .order_by(early_receipts.c.id)
    ).all()
    if not kept:
        return 0
    for k in kept:
        row = conn.execute(
            sa.select(deliveries).where(deliveries.c.provider_id == provider_id).with_for_update()
        ).first()
        if row is None:
            return 0
        _apply(conn, row, status=k.status, code=k.code, now=now, detail=k.detail)
    conn.execute(early_receipts.delete().where(early_receipts.c.provider_id == provider_id))
    return len(kept)


def sweep(conn: Connection, *, now: datetime) -> int:
    """Apply kept receipts whose rows now have their id; forget those older than a day."""
    ids = list(
        conn.execute(
            sa.select(early_receipts.c.provider_id)
            .join(deliveries, deliveries.c.provider_id == early_receipts.c.provider_id)
            .distinct()
        ).scalars()
    )
    n = sum(apply_early(conn, provider_id=i, now=now) for i in ids)
    conn.execute(early_receipts.delete().where(early_receipts.c.received_at < now - KEEP_EARLY))
    return n


def _apply(
    conn: Connection,
    row: Row[Any],
    *,
    status: str,
    code: str | None,
    now: datetime,
    detail: str | None = None,
) -> None:
    stage, seen = STAGE.get(status, 0), STAGE.get(row.provider_status or "", 0)
    values: dict[str, Any] = {"updated_at": now}
    if stage > seen or (stage == seen and seen < 4):  # one final word: the first one
        values["provider_status"] = status[:32]
    new = FINAL.get(status)
    # A final outcome lands once (the row leaves sent/sending with it): a later "delivered"
    # after "failed", or the reverse, is only noted.
    if new and row.status in ("sent", "sending"):
        values["status"] = new
        if new == "delivered":
            values["delivered_at"] = now
        else:
            values["error_code"] = code
            values["last_error"] = f"provider reported {detail or status}"
    else:
        new = None
    conn.execute(deliveries.update().where(deliveries.c.id == row.id).values(**values))
    if new == "failed" and row.incident_id is not None:
        lock_incident(conn, row.incident_id)
        append_event(
            conn,
            incident_id=row.incident_id,
            type="delivery_failed",
            actor="provider",
            at=now,
            data={
                "delivery": row.id,
                "kind": row.kind,
                "channel": row.channel,
                "status": detail or status,
                "code": code,
            },
        )
