"""The durable outbox: one row per (message, recipient, channel), claimed and sent by workers.

pending → sending → delivered | failed | dead (or cancelled, for pages made moot by an
acknowledgement). A claim is a lease: a worker killed mid-send leaves its rows in
``sending``, and once the lease runs out another worker takes them again (at least once;
the provider id and dedupe key keep duplicates visible and bounded by the worker's
concurrency). Transient errors back off exponentially with jitter and honour Retry-After;
permanent ones fail at once; the last transient failure makes the row dead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery import receipts
from engine.delivery._tables import deliveries
from engine.delivery.queue import enqueue as enqueue  # adding rows: queue.py; callers say
from engine.delivery.queue import enqueue_many as enqueue_many  # outbox.enqueue, as ever
from engine.delivery.queue import row as row
from engine.kernel import keys
from engine.kernel.errors import SendFailed
from engine.kernel.journal import append_event
from engine.kernel.ports import OutboundMessage, Receipt
from engine.kernel.records import lock_incident
from engine.store import Store

BASE_DELAY = 2.0
MAX_DELAY = 300.0
LEASE = timedelta(seconds=60)


def backoff(
    attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, jittered, capped."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2.0 ** max(0, attempt - 1))
    jitter = rng.random() if rng is not None else random.random()
    delay = ceiling * (0.5 + jitter / 2)
    return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class Claimed:
    message: OutboundMessage
    attempts: int
    max_attempts: int
    incident_id: int | None
    queued_at: datetime | None = None


MootRule = Callable[[Connection, Sequence[Any], datetime], set[int]]
FailRule = Callable[[Connection, OutboundMessage, datetime], None]
SentRule = Callable[[Connection, OutboundMessage, Receipt, datetime], None]
RetryRule = Callable[[Connection, OutboundMessage, SendFailed, datetime], None]
ContextRule = Callable[[Connection, OutboundMessage], Mapping[str, Any]]


@dataclass(frozen=True)
class Owners:
    """The contexts behind the messages delivery sends; delivery never touches their tables.

    ``moot``: per kind, which claimed delivery rows are moot now, and the reason recorded
    (pages of an acknowledged incident: paging; posts a freeze now holds: the calendar);
    ``failed``: per kind, what a final failure means to the owner (a post marked failed);
    ``opt_out``: a subscriber the provider says has unsubscribed (the audience);
    ``sent``: per kind, what the provider's answer means to the owner, in the transaction that
    records the success (a connector's scan result, a pause done);
    ``retrying``: per kind, told of each transient failure before the retry (a connector's
    progress says "failing, retrying");
    ``context``: per kind, what the owner adds to a message's meta just before it is sent (the
    post an update replies to, known only once the thread's earlier post went out).
    """

    moot: Mapping[str, tuple[MootRule, str]] = field(default_factory=dict)
    failed: Mapping[str, FailRule] = field(default_factory=dict)
    sent: Mapping[str, SentRule] = field(default_factory=dict)
    retrying: Mapping[str, RetryRule] = field(default_factory=dict)
    context: Mapping[str, ContextRule] = field(default_factory=dict)
    opt_out: Callable[[Connection, int], None] | None = None


def claim(
    store: Store,
    *,
    now: datetime,
    limit: int,
    media: Mapping[str, str],
    owners: Owners,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Take up to ``limit`` due rows (SKIP LOCKED), mark them sending, and return them.

    Rows their owner calls moot (a page whose incident was acknowledged, stopped or
    resolved; a post a freeze now holds) are cancelled here instead of being sent.
    """
    d = deliveries.c
    # Two queries, each served by its own index (an OR of the two would scan the table and
    # sort it on disk at a big backlog): claims whose holder died first, then due rows.
    expired = (
        sa.select(deliveries)
        .where(d.status == "sending", d.lease_until < now)
        .order_by(d.lease_until, d.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    out: list[Claimed] = []
    with store.transaction() as conn:
        link_keys = keys.of(conn)
        rows = list(conn.execute(expired).all())
        if len(rows) < limit:
            due = (
                sa.select(deliveries)
                .where(d.status == "pending", d.next_attempt_at <= now)
                .order_by(d.next_attempt_at, d.id)
                .limit(limit - len(rows))
                .with_for_update(skip_locked=True)
            )
            rows += conn.execute(due).all()
        moot = _moot(conn, owners, rows, now=now)
        for why in set(moot.values()):  # one statement per reason, one for the claims
            conn.execute(
                deliveries.update()
                .where(d.id.in_([i for i, w in moot.items() if w == why]))
                .values(status="cancelled", last_error=why, updated_at=now)
            )
        taken = [r.id for r in rows if r.id not in moot]
        if taken:
            conn.execute(
                deliveries.update()
                .where(d.id.in_(taken))
                .values(
                    status="sending",
                    attempts=d.attempts + 1,
                    lease_until=now + lease,
                    updated_at=now,
                )
            )
        for r in rows:
            if r.id in moot:
                continue
            out.append(
                Claimed(
                    OutboundMessage(
                        r.id,
                        r.kind,
                        r.channel,
                        media.get(r.channel, "webhook"),
                        r.address,
                        r.body,
                        r.subject,
                        _with_links(dict(r.meta or {}), link_keys),
                    ),
                    r.attempts + 1,
                    r.max_attempts,
                    r.incident_id,
                    r.created_at,
                )
            )
    return out


def _with_links(meta: dict[str, Any], link_keys: keys.Keys) -> dict[str, Any]:
    """Add a subscriber's unsubscribe capability, made now: the database never holds it."""
    sid = meta.get("subscriber_id")
    if isinstance(sid, int):
        meta["unsubscribe_token"] = link_keys.link_token("unsubscribe", sid)
    return meta


def still_wanted(store: Store, claimed: Claimed, *, now: datetime, owners: Owners) -> bool:
    """Ask the owner once more, immediately before the provider call, whether to send.

    A page whose incident was acknowledged (or resolved) and a post a freeze now holds are
    cancelled instead of sent. The claim already asked; this narrows the window to the time
    between this commit and the provider call (the row is not held across that call, which
    would stall every acknowledgement and freeze behind a slow provider).
    """
    if claimed.message.kind not in owners.moot:
        return True
    d = deliveries.c
    with store.transaction() as conn:
        row = conn.execute(sa.select(deliveries).where(d.id == claimed.message.delivery_id)).first()
        if row is None:
            return False
        why = _moot(conn, owners, [row], now=now).get(row.id)
        if why is None:
            return True
        conn.execute(
            deliveries.update()
            .where(d.id == row.id)
            .values(status="cancelled", last_error=why, lease_until=None, updated_at=now)
        )
        return False


def _moot(
    conn: Connection, owners: Owners, rows: Sequence[Any], *, now: datetime
) -> dict[int, str]:
    """Delivery id → why, for the rows whose owner says they are moot now."""
    out: dict[int, str] = {}
    for kind, (rule, why) in owners.moot.items():
        of_kind = [r for r in rows if r.kind == kind]
        if of_kind:
            out |= dict.fromkeys(rule(conn, of_kind, now), why)
    return out


def with_context(store: Store, message: OutboundMessage, *, owners: Owners) -> OutboundMessage:
    """The message with what its owner adds at send time (see ``Owners.context``)."""
    rule = owners.context.get(message.kind)
    if rule is None:
        return message
    with store.transaction() as conn:
        extra = dict(rule(conn, message))
    return replace(message, meta={**message.meta, **extra}) if extra else message


def record_success(
    store: Store,
    claimed: Claimed,
    receipt: Receipt,
    *,
    now: datetime,
    owners: Owners | None = None,
) -> None:
    status = "delivered" if receipt.final else "sent"
    with store.transaction() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == claimed.message.delivery_id)
            .values(
                status=status,
                provider_id=receipt.provider_id,
                lease_until=None,
                delivered_at=now if receipt.final else None,
                last_error=None,
                updated_at=now,
            )
        )
        receipts.apply_early(conn, provider_id=receipt.provider_id, now=now)
        sent = owners.sent.get(claimed.message.kind) if owners else None
        if sent is not None:
            sent(conn, claimed.message, receipt, now)


def release(store: Store, claimed: Claimed, *, now: datetime) -> None:
    """Give a claimed row back unsent (shutting down): pending again, the attempt not counted."""
    with store.transaction() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == claimed.message.delivery_id, deliveries.c.status == "sending")
            .values(
                status="pending",
                lease_until=None,
                attempts=claimed.attempts - 1,
                next_attempt_at=now,
                updated_at=now,
            )
        )


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
        values["next_attempt_at"] = now + timedelta(
            seconds=backoff(claimed.attempts, retry_after=error.retry_after, rng=rng)
        )
    with store.transaction() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == claimed.message.delivery_id)
            .values(**values)
        )
        failed = owners.failed.get(claimed.message.kind)
        if status != "pending" and failed is not None:
            failed(conn, claimed.message, now)
        retrying = owners.retrying.get(claimed.message.kind)
        if status == "pending" and retrying is not None:
            retrying(conn, claimed.message, error, now)
        if status != "pending":
            _after_final_failure(conn, claimed, error, owners, now=now)
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
                    "fallback": (m.meta.get("fallback") or {}).get("channel"),
                },
            )
    return status


def _after_final_failure(
    conn: Connection, claimed: Claimed, error: SendFailed, owners: Owners, *, now: datetime
) -> None:
    """A recipient who replied STOP is opted out; the audience's fallback channel takes over."""
    meta = claimed.message.meta
    if error.unsubscribed and isinstance(meta.get("subscriber_id"), int) and owners.opt_out:
        owners.opt_out(conn, meta["subscriber_id"])
    fb = meta.get("fallback")
    if not fb:
        return
    rest = {k: v for k, v in meta.items() if k != "fallback"} | {
        "fallback_for": claimed.message.delivery_id
    }
    enqueue(
        conn,
        kind=claimed.message.kind,
        incident_id=claimed.incident_id,
        ref_id=meta.get("update_id"),
        channel=fb["channel"],
        address=fb["address"],
        subject=fb.get("subject"),
        body=fb["body"],
        now=now,
        meta=rest,
        dedupe_key=fb["dedupe_key"],
    )


def counts(conn: Connection, **where: Any) -> dict[str, int]:
    """Delivery counts by status for rows matching ``where`` (column=value)."""
    q = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    for col, value in where.items():
        q = q.where(getattr(deliveries.c, col) == value)
    return {status: int(n) for status, n in conn.execute(q)}
