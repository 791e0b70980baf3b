"""Provider delivery receipts applied to outbox rows: in order, in batches, and never lost.

Every message produces two or three status callbacks, so the hook does the least it can: it
checks the signature and keeps the receipt with one INSERT into ``early_receipts``, locking
nothing. The outbox worker applies kept receipts in batches (``sweep``, every second): the rows
they name read at once, each row's changes folded in order of arrival, one UPDATE per shape of
change. A receipt can arrive before the worker has stored the message's provider id (the
provider answers the send, then calls back within milliseconds); it waits, and is applied in the
transaction that stores the id or by the next sweep. Duplicates are harmless, and a later stage
never moves a row back to an earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.delivery._tables import deliveries, early_receipts
from engine.kernel.journal import append_event
from engine.kernel.records import lock_incident
from engine.store import Store, queries

KEEP_EARLY = timedelta(days=1)
BATCH = 5000  # receipts applied per sweep, at most
# Provider-neutral stages (notifiers translate their provider's words into these); a receipt
# of a lower stage than the row's is only noted, and the first final word stands.
STAGE = {"other": 0, "accepted": 1, "sending": 2, "sent": 3, "delivered": 4, "failed": 4, "read": 5}
FINAL = {"delivered": "delivered", "read": "delivered", "failed": "failed"}


@dataclass(frozen=True)
class Kept:
    """A receipt as the provider sent it, to be stored (``keep``)."""

    provider_id: str
    status: str
    code: str | None
    received_at: datetime
    detail: str | None = None


def keep(conn: Connection, kept: Sequence[Kept]) -> None:
    """Store receipts as they arrive: one INSERT for them all, nothing locked (the hook
    answers at once; the worker applies them)."""
    if kept:
        conn.execute(early_receipts.insert(), _stored(kept))


# PostgreSQL: the batch as one JSON text in one statement, run on the driver's cursor (no
# executemany pipeline, no SQLAlchemy statement): the hook's write is most of its CPU, and
# the driver turns one string into a parameter for far less than five arrays of rows.
_KEEP_PG = (
    "INSERT INTO early_receipts (provider_id, status, code, detail, received_at) "
    "SELECT provider_id, status, code, detail, received_at FROM json_to_recordset(%s::json) "
    "AS r(provider_id varchar, status varchar, code varchar, detail varchar, "
    "received_at timestamptz)"
)


def keep_postgres(store: Store, kept: Sequence[Kept]) -> None:
    """``keep`` on PostgreSQL: one statement on the driver (``Store.driver_execute``)."""
    if kept:
        store.driver_execute(_KEEP_PG, (queries.as_json(_stored(kept)),))


def _stored(kept: Sequence[Kept]) -> list[dict[str, Any]]:
    return [
        {
            "provider_id": k.provider_id[:200],
            "status": k.status[:32],
            "code": (k.code or "")[:32] or None,
            "detail": (k.detail or "")[:32] or None,
            "received_at": k.received_at,
        }
        for k in kept
    ]


_EARLY_OF = (
    sa.select(early_receipts)
    .where(early_receipts.c.provider_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(early_receipts.c.id)
)


def apply_early(conn: Connection, *, provider_ids: Sequence[str], now: datetime) -> int:
    """Apply the kept receipts of these provider ids (just stored), oldest first."""
    if not provider_ids:
        return 0
    kept = conn.execute(_EARLY_OF, {"ids": list(provider_ids)}).all()
    return apply_kept(conn, kept, now=now)


def sweep(conn: Connection, *, now: datetime, limit: int = BATCH) -> int:
    """Apply up to ``limit`` kept receipts whose rows have their id, oldest first; forget
    those older than a day. Returns how many were applied."""
    kept = conn.execute(
        sa.select(early_receipts)
        .where(
            early_receipts.c.provider_id.in_(
                sa.select(deliveries.c.provider_id).where(deliveries.c.provider_id.is_not(None))
            )
        )
        .order_by(early_receipts.c.id)
        .limit(limit)
    ).all()
    n = apply_kept(conn, kept, now=now)
    conn.execute(early_receipts.delete().where(early_receipts.c.received_at < now - KEEP_EARLY))
    return n


def apply_kept(conn: Connection, kept: Sequence[Row[Any]], *, now: datetime) -> int:
    """Apply kept receipts in their order of arrival, in a few statements for the lot: the
    rows they name read (and locked) at once, each row's changes folded in memory, then one
    UPDATE per shape of change, one DELETE of the receipts applied."""
    if not kept:
        return 0
    ids = {k.provider_id for k in kept}
    rows = {
        r.provider_id: r
        for r in conn.execute(
            sa.select(deliveries)
            .where(deliveries.c.provider_id.in_(ids))
            .order_by(deliveries.c.id)
            .with_for_update()
        )
    }
    state: dict[int, dict[str, Any]] = {}  # per row: its status and provider status now
    changes: dict[int, dict[str, Any]] = {}  # per row: the columns to write
    applied: list[int] = []
    failed: list[tuple[Row[Any], Row[Any]]] = []
    for k in kept:
        row = rows.get(k.provider_id)
        if row is None:
            continue
        applied.append(k.id)
        now_state = state.setdefault(
            row.id, {"status": row.status, "provider_status": row.provider_status}
        )
        values, new = _transition(now_state, status=k.status, code=k.code, now=now, detail=k.detail)
        now_state.update(values)
        changes.setdefault(row.id, {}).update(values)
        if new == "failed" and row.incident_id is not None:
            failed.append((row, k))
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for delivery_id, values in changes.items():
        shape = tuple(sorted(values))
        shapes.setdefault(shape, []).append(
            {"b_id": delivery_id, **{f"b_{c}": values[c] for c in shape}}
        )
    for shape, params in shapes.items():
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == sa.bindparam("b_id"))
            .values({c: sa.bindparam(f"b_{c}") for c in shape} | {"updated_at": now}),
            params,
        )
    for row, k in failed:
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
                "status": k.detail or k.status,
                "code": k.code,  # cut to its column when kept (``_stored``)
            },
        )
    conn.execute(early_receipts.delete().where(early_receipts.c.id.in_(applied)))
    return len(applied)


def _transition(
    row: dict[str, Any], *, status: str, code: str | None, now: datetime, detail: str | None
) -> tuple[dict[str, Any], str | None]:
    """What one receipt changes on a row in ``row``'s state, and its new final status if any."""
    stage, seen = STAGE.get(status, 0), STAGE.get(row["provider_status"] or "", 0)
    values: dict[str, Any] = {}
    if stage > seen or (stage == seen and seen < 4):  # one final word: the first one
        values["provider_status"] = status[:32]
    new = FINAL.get(status)
    # A final outcome lands once (the row leaves sent/sending with it): a later "delivered"
    # after "failed", or the reverse, is only noted.
    if not (new and row["status"] in ("sent", "sending")):
        return values, None
    values["status"] = new
    if new == "delivered":
        values["delivered_at"] = now
    else:
        values["error_code"] = code
        values["last_error"] = f"provider reported {detail or status}"
    return values, new
