"""Adding deliveries to the outbox, in the caller's transaction: one (``enqueue``), or many
made by ``row`` in a few batched statements (``enqueue_many``); each once per dedupe key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from engine.delivery._tables import deliveries
from engine.store.queries import insert_ignore, insert_ignore_many


def enqueue(
    conn: Connection,
    *,
    kind: str,
    channel: str,
    address: str,
    body: str,
    now: datetime,
    dedupe_key: str,
    incident_id: int | None = None,
    ref_id: int | None = None,
    user_id: int | None = None,
    subject: str | None = None,
    meta: Mapping[str, Any] | None = None,
    max_attempts: int = 12,  # transient failures retried for about 20 minutes
    not_before: datetime | None = None,
) -> None:
    """Add a delivery (once per dedupe key) in the caller's transaction."""
    insert_ignore(
        conn,
        deliveries,
        **row(
            kind=kind, channel=channel, address=address, body=body, now=now,
            dedupe_key=dedupe_key, incident_id=incident_id, ref_id=ref_id, user_id=user_id,
            subject=subject, meta=meta, max_attempts=max_attempts, not_before=not_before,
        ),
    )  # fmt: skip


def row(
    *,
    kind: str,
    channel: str,
    address: str,
    body: str,
    now: datetime,
    dedupe_key: str,
    incident_id: int | None = None,
    ref_id: int | None = None,
    user_id: int | None = None,
    subject: str | None = None,
    meta: Mapping[str, Any] | None = None,
    max_attempts: int = 12,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """One delivery as ``enqueue_many`` takes it (the same fields as ``enqueue``)."""
    return {
        "kind": kind,
        "incident_id": incident_id,
        "ref_id": ref_id,
        "user_id": user_id,
        "channel": channel,
        "address": address,
        "subject": subject,
        "body": body,
        "meta": dict(meta or {}),
        "status": "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "next_attempt_at": not_before or now,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }


def enqueue_many(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add many deliveries (made by ``row``), each once per dedupe key, in the caller's
    transaction: one statement compiled once and sent a thousand rows at a time, so an
    update to 100,000 people is 100 round trips, not 100,000."""
    insert_ignore_many(conn, deliveries, [dict(r) for r in rows])
