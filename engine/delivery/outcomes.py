"""What became of each send, written back to the outbox: delivered or sent, retried, failed, dead.

The worker hands outcomes over in batches: ``record_outcomes`` writes a whole batch in one
transaction, the successes in one UPDATE (many rows, one prepared statement) and the early
receipts of the batch looked up in one query. A final failure is told to its owner and to the
incident's timeline; the audience's fallback channel is queued; a subscriber who replied STOP
is opted out. Transient errors back off exponentially with jitter and honour Retry-After.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery import receipts
from engine.delivery._tables import deliveries
from engine.delivery.owners import Claimed, Owners
from engine.delivery.queue import enqueue
from engine.kernel.errors import SendFailed
from engine.kernel.journal import append_event
from engine.kernel.ports import Receipt
from engine.kernel.records import lock_incident
from engine.store import Store, queries

BASE_DELAY = 2.0
MAX_DELAY = 300.0


def backoff(
    attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, jittered, capped."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2.0 ** max(0, attempt - 1))
    jitter = rng.random() if rng is not None else random.random()
    delay = ceiling * (0.5 + jitter / 2)
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class Outcome:
    """One send's result: a receipt, an error, or neither (given back unsent, due at ``due``)."""

    claimed: Claimed
    at: datetime
    receipt: Receipt | None = None
    error: SendFailed | None = None
    due: datetime | None = None  # given back: pending again from then, the attempt not counted
    retry_within: float | None = None  # a passing fault: retry within this many seconds


def record_outcomes(
    store: Store, outcomes: Sequence[Outcome], *, owners: Owners, rng: random.Random | None = None
) -> list[str]:
    """Write a batch of outcomes in one transaction; the new status of each failure, in order."""
    sent = [o for o in outcomes if o.receipt is not None]
    back = [o for o in outcomes if o.receipt is None and o.error is None]
    statuses: list[str] = []
    with store.transaction() as conn:
        _successes(conn, sent, owners=owners)
        _releases(conn, back)
        for o in outcomes:
            if o.error is not None:
                status = _failure(
                    conn, o.claimed, o.error, now=o.at, owners=owners, rng=rng,
                    retry_within=o.retry_within,
                )  # fmt: skip
                statuses.append(status)
    return statuses


_SENT = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("b_status"),
        provider_id=sa.bindparam("b_provider_id"),
        lease_until=None,
        delivered_at=sa.bindparam("b_delivered_at"),
        last_error=None,
        updated_at=sa.bindparam("b_at"),
    )
)
# PostgreSQL: the batch as one JSON text in one statement (the driver turns one string into
# a parameter for far less CPU than five lists), its rows locked in id order first (as every
# writer of deliveries locks them), instead of one UPDATE per row in a pipeline; the same
# statement returns the receipts that came before their row (``receipts.apply_early``'s
# query, without its round trip and its IN list of a hundred parameters).
_SENT_PG = """
WITH sent AS (
    SELECT * FROM json_to_recordset(%s::json)
        AS s(b_id int, b_status varchar, b_provider_id varchar, b_delivered_at timestamptz,
             b_at timestamptz)
), locked AS (
    SELECT d.id FROM deliveries AS d WHERE d.id IN (SELECT b_id FROM sent) ORDER BY d.id
    FOR UPDATE
), updated AS (
    UPDATE deliveries AS d
    SET status = sent.b_status, provider_id = sent.b_provider_id, lease_until = NULL,
        delivered_at = sent.b_delivered_at, last_error = NULL, updated_at = sent.b_at
    FROM sent WHERE d.id = sent.b_id AND d.id IN (SELECT id FROM locked)
    RETURNING d.provider_id
)
SELECT e.id, e.provider_id, e.status, e.code, e.detail FROM early_receipts AS e
WHERE e.provider_id IN (SELECT provider_id FROM updated) ORDER BY e.id
"""


def _successes(conn: Connection, sent: Sequence[Outcome], *, owners: Owners | None) -> None:
    if not sent:
        return
    pg = conn.dialect.name == "postgresql"
    rows = []
    for o in sorted(sent, key=lambda o: o.claimed.message.delivery_id):  # lock order
        if o.receipt is None:
            continue
        at = o.at.isoformat() if pg else o.at  # PostgreSQL takes the batch as JSON text
        rows.append(
            {
                "b_id": o.claimed.message.delivery_id,
                "b_status": "delivered" if o.receipt.final else "sent",
                "b_provider_id": o.receipt.provider_id,
                "b_delivered_at": at if o.receipt.final else None,
                "b_at": at,
            }
        )
    if pg:
        early = conn.exec_driver_sql(_SENT_PG, (queries.as_json(rows),)).all()
        receipts.apply_kept(conn, early, now=sent[0].at)  # those that came first
    else:
        conn.execute(_SENT, rows)
        ids = [o.receipt.provider_id for o in sent if o.receipt and o.receipt.provider_id]
        receipts.apply_early(conn, provider_ids=ids, now=sent[0].at)  # those that came first
    for o in sent:
        if owners is None or o.receipt is None or not owners.acts_on_sent(o.claimed.message):
            continue
        owners.sent[o.claimed.message.kind](conn, o.claimed.message, o.receipt, o.at)


def _releases(conn: Connection, back: Sequence[Outcome]) -> None:
    if not back:
        return
    d = deliveries.c
    conn.execute(
        deliveries.update()
        .where(d.id == sa.bindparam("b_id"), d.status == "sending")
        .values(
            status="pending",
            lease_until=None,
            attempts=sa.bindparam("b_attempts"),
            next_attempt_at=sa.bindparam("b_due"),
            updated_at=sa.bindparam("b_at"),
        ),
        [
            {
                "b_id": o.claimed.message.delivery_id,
                "b_attempts": o.claimed.attempts - 1,
                "b_due": o.due or o.at,
                "b_at": o.at,
            }
            for o in back
        ],
    )


def record_success(
    store: Store,
    claimed: Claimed,
    receipt: Receipt,
    *,
    now: datetime,
    owners: Owners | None = None,
) -> None:
    with store.transaction() as conn:
        _successes(conn, [Outcome(claimed, now, receipt=receipt)], owners=owners)


def release(store: Store, claimed: Claimed, *, now: datetime) -> None:
    """Give a claimed row back unsent (shutting down): pending again, the attempt not counted."""
    with store.transaction() as conn:
        _releases(conn, [Outcome(claimed, now)])


def record_failure(
    store: Store,
    claimed: Claimed,
    error: SendFailed,
    *,
    now: datetime,
    owners: Owners,
    rng: random.Random | None = None,
) -> str:
    """Schedule a retry, or fail/kill the row; returns the new status."""
    with store.transaction() as conn:
        return _failure(conn, claimed, error, now=now, owners=owners, rng=rng)


def _failure(
    conn: Connection,
    claimed: Claimed,
    error: SendFailed,
    *,
    now: datetime,
    owners: Owners,
    rng: random.Random | None = None,
    retry_within: float | None = None,
) -> str:
    if error.permanent:
        status = "failed"
    elif claimed.attempts >= claimed.max_attempts:
        status = "dead"
    else:
        status = "pending"
    values: dict[str, Any] = {
        "status": status,
        "lease_until": None,
        "updated_at": now,
        "last_error": str(error)[:1000],
        "error_code": error.provider_code,
        "error_kind": "credentials" if error.credentials else None,
    }
    if status == "pending":
        delay = backoff(claimed.attempts, retry_after=error.retry_after, rng=rng)
        if retry_within is not None:  # a passing fault at a healthy sender: soon
            delay = min(delay, max(retry_within, error.retry_after or 0.0))
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    conn.execute(
        deliveries.update().where(deliveries.c.id == claimed.message.delivery_id).values(**values)
    )
    failed = owners.failed.get(claimed.message.kind)
    if status != "pending" and failed is not None:
        failed(conn, claimed.message, now)
    retrying = owners.retrying.get(claimed.message.kind)
    if status == "pending" and retrying is not None:
        retrying(conn, claimed.message, error, now)
    fallback = None
    if status != "pending":
        fallback = _after_final_failure(conn, claimed, error, owners, now=now)
    if status != "pending" and claimed.incident_id is not None:
        # Never swallow a failed send: the incident's timeline says who was not reached.
        lock_incident(conn, claimed.incident_id)
        m = claimed.message
        append_event(
            conn,
            incident_id=claimed.incident_id,
            type=f"delivery_{status}",
            actor="outbox",
            at=now,
            data={
                "delivery": m.delivery_id,
                "kind": m.kind,
                "channel": m.channel,
                "to": m.meta.get("username") or m.address,
                "attempts": claimed.attempts,
                "error": str(error)[:300],
                "code": error.provider_code,
                "fallback": fallback,
            },
        )
    return status


def _after_final_failure(
    conn: Connection, claimed: Claimed, error: SendFailed, owners: Owners, *, now: datetime
) -> str | None:
    """A recipient who replied STOP is opted out; the audience's fallback channel takes over
    (returned: the channel the message now goes by, or None)."""
    meta = claimed.message.meta
    sid = meta.get("subscriber_id")
    if error.unsubscribed and isinstance(sid, int) and owners.opt_out:
        owners.opt_out(conn, sid)
    fb = meta.get("fallback")
    if not fb:
        return None
    address, key = fb.get("address"), fb["dedupe_key"]
    if not address and fb.get("medium"):  # a personal fallback: this subscriber's address
        if not isinstance(sid, int) or owners.address_of is None:
            return None
        address, key = owners.address_of(conn, sid, fb["medium"]), f"{key}{sid}"
    if not address:
        return None  # no way to reach them there (or they no longer want messages)
    rest = {k: v for k, v in meta.items() if k not in ("fallback", "subscriber_id")} | {
        "fallback_for": claimed.message.delivery_id
    }
    enqueue(
        conn,
        kind=claimed.message.kind,
        incident_id=claimed.incident_id,
        ref_id=meta.get("update_id"),
        subscriber_id=sid if isinstance(sid, int) else None,
        channel=fb["channel"],
        address=address,
        subject=fb.get("subject"),
        body=fb["body"],
        now=now,
        meta=rest,
        dedupe_key=key,
    )
    return str(fb["channel"])
