"""Adding deliveries to the outbox, in the caller's transaction: one (``enqueue``), many
made by ``row`` in a few batched statements (``enqueue_many``), or as many as a query yields
in one statement (``enqueue_select``); each once per dedupe key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery._tables import deliveries
from engine.store.queries import insert_ignore, insert_ignore_many, insert_select_once


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
    subscriber_id: int | None = None,
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
            subscriber_id=subscriber_id, subject=subject, meta=meta, max_attempts=max_attempts,
            not_before=not_before,
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
    subscriber_id: int | None = None,
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
        "subscriber_id": subscriber_id,
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


def enqueue_select(
    conn: Connection,
    people: sa.Select[Any],
    *,
    kind: str,
    channel: str,
    body: str,
    now: datetime,
    dedupe_prefix: str,
    incident_id: int | None = None,
    ref_id: int | None = None,
    subject: str | None = None,
    meta: Mapping[str, Any] | None = None,
    max_attempts: int = 12,
) -> None:
    """One delivery per row of ``people`` (columns ``id`` and ``address``: a subscriber and
    where to reach them), the same message and meta in each, written by one INSERT … SELECT
    in the caller's transaction; the dedupe key is ``dedupe_prefix`` and the subscriber's id
    (rows already there are skipped)."""
    src = people.subquery("people")
    values: dict[str, Any] = {
        "kind": sa.literal(kind),
        "incident_id": sa.literal(incident_id, sa.Integer),
        "ref_id": sa.literal(ref_id, sa.Integer),
        "subscriber_id": src.c.id,
        "channel": sa.literal(channel),
        "address": src.c.address,
        "subject": sa.literal(subject, sa.String),
        "body": sa.literal(body, sa.Text),
        "meta": _json(conn, dict(meta or {})),
        "status": sa.literal("pending"),
        "attempts": sa.literal(0),
        "max_attempts": sa.literal(max_attempts),
        "next_attempt_at": sa.literal(now, deliveries.c.next_attempt_at.type),
        "dedupe_key": sa.literal(dedupe_prefix) + sa.cast(src.c.id, sa.String),
        "created_at": sa.literal(now, deliveries.c.created_at.type),
        "updated_at": sa.literal(now, deliveries.c.updated_at.type),
    }
    select = sa.select(*values.values()).select_from(src).order_by(src.c.id)
    insert_select_once(conn, deliveries, list(values), select)


def _json(conn: Connection, value: dict[str, Any]) -> sa.ColumnElement[Any]:
    """A JSON value in a SELECT list: PostgreSQL needs the type said (a bare parameter there
    is text); SQLite keeps JSON as text, and a CAST to its "JSON" would make it a number."""
    bound = sa.literal(value, sa.JSON)
    return sa.cast(bound, sa.JSON) if conn.dialect.name == "postgresql" else bound
