"""The durable outbox: one row per (message, recipient, channel), claimed and sent by workers.

pending → sending → delivered | failed | dead (or cancelled, for pages made moot by an
acknowledgement). A claim is a lease: a worker killed mid-send leaves its rows in
``sending``, and once the lease runs out another worker takes them again (at least once;
the provider id and dedupe key keep duplicates visible and bounded by the worker's
concurrency). Transient errors back off exponentially with jitter and honour Retry-After;
permanent ones fail at once; the last transient failure makes the row dead.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from engine.delivery._tables import PENDING, SENDING, deliveries
from engine.delivery.outcomes import backoff as backoff  # recording outcomes: outcomes.py
from engine.delivery.outcomes import record_failure as record_failure
from engine.delivery.outcomes import record_outcomes as record_outcomes
from engine.delivery.outcomes import record_success as record_success
from engine.delivery.outcomes import release as release
from engine.delivery.owners import Claimed as Claimed  # the types: owners.py
from engine.delivery.owners import Owners as Owners
from engine.delivery.queue import enqueue as enqueue  # adding rows: queue.py; callers say
from engine.delivery.queue import enqueue_many as enqueue_many  # outbox.enqueue, as ever
from engine.delivery.queue import enqueue_select as enqueue_select
from engine.delivery.queue import row as row
from engine.kernel import keys
from engine.kernel.ports import OutboundMessage
from engine.store import Store

LEASE = timedelta(seconds=60)


_d = deliveries.c
# What a claim hands on (the message, and what the owners' moot rules look at): not the
# row's timestamps, provider fields or errors, which a claim of a hundred rows would decode
# for nothing.
_CLAIMED = (
    _d.id, _d.kind, _d.incident_id, _d.ref_id, _d.user_id, _d.subscriber_id, _d.channel,
    _d.address, _d.subject, _d.body, _d.meta, _d.attempts, _d.max_attempts, _d.created_at,
)  # fmt: skip
# The meta comes as text: a bulk publish gives every row of an update the same meta, so a claim
# parses each distinct text once (read-only, shared) instead of the driver parsing every row's.
_META_AT = [c.name for c in _CLAIMED].index("meta")
_SELECTED = tuple(sa.cast(c, sa.Text).label("meta") if c.name == "meta" else c for c in _CLAIMED)
_Claimable = namedtuple("_Claimable", [c.name for c in _CLAIMED])  # type: ignore[misc]
# Two queries, each served by its own index (an OR of the two would scan the table and sort it
# on disk at a big backlog): claims whose holder died first, then due rows.
_EXPIRED = (
    sa.select(*_SELECTED)
    .where(SENDING, _d.lease_until < sa.bindparam("now"))
    .order_by(_d.lease_until, _d.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DUE = (
    sa.select(*_SELECTED)
    .where(PENDING, _d.next_attempt_at <= sa.bindparam("now"))
    .order_by(_d.next_attempt_at, _d.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CANCEL = (
    deliveries.update()
    .where(_d.id.in_(sa.bindparam("ids", expanding=True)))
    .values(status="cancelled", last_error=sa.bindparam("why"), updated_at=sa.bindparam("now"))
)
_TAKING = {
    "status": "sending",
    "attempts": _d.attempts + 1,
    "lease_until": sa.bindparam("until"),
    "updated_at": sa.bindparam("now"),
}
_TAKE = deliveries.update().where(_d.id.in_(sa.bindparam("ids", expanding=True))).values(_TAKING)
# PostgreSQL: the ids as one array, so the statement's text is the same for every claim (an IN
# list of a hundred placeholders was parsed anew by the driver each time).
_TAKE_PG = (
    deliveries.update()
    .where(_d.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.Integer))))
    .values(_TAKING)
)


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
    out: list[Claimed] = []
    with store.transaction() as conn:
        link_keys = keys.of(conn)
        found = list(conn.execute(_EXPIRED, {"now": now, "limit": limit}).all())
        if len(found) < limit:
            found += conn.execute(_DUE, {"now": now, "limit": limit - len(found)}).all()
        rows = _with_meta(found)
        moot = _moot(conn, owners, rows, now=now)
        for why in set(moot.values()):  # one statement per reason, one for the claims
            ids = [i for i, w in moot.items() if w == why]
            conn.execute(_CANCEL, {"ids": ids, "why": why, "now": now})
        taken = [r.id for r in rows if r.id not in moot]
        if taken:
            take = _TAKE_PG if conn.dialect.name == "postgresql" else _TAKE
            conn.execute(take, {"ids": taken, "now": now, "until": now + lease})
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
                        _with_links(_meta(r), link_keys, media.get(r.channel)),
                    ),
                    r.attempts + 1,
                    r.max_attempts,
                    r.incident_id,
                    r.created_at,
                )
            )
    return out


def _with_meta(found: Sequence[Any]) -> list[Any]:
    """The claimed rows with their meta parsed, once per distinct text (read-only)."""
    parsed: dict[str, Mapping[str, Any]] = {}
    rows = []
    for r in found:
        values = list(r)
        text = values[_META_AT]
        meta = parsed.get(text)
        if meta is None:
            meta = parsed[text] = MappingProxyType(json.loads(text) if text else {})
        values[_META_AT] = meta
        rows.append(_Claimable._make(values))
    return rows


LINKED_MEDIA = frozenset({"email"})  # the media whose messages carry an unsubscribe link


def _meta(r: Any) -> dict[str, Any]:
    """A claimed row's meta, with the subscriber it is for (a column since migration 0016:
    a bulk publish writes the same meta in every row; older rows kept it in the meta)."""
    meta = dict(r.meta or {})
    if r.subscriber_id is not None:
        meta["subscriber_id"] = r.subscriber_id
    return meta


def _with_links(meta: dict[str, Any], link_keys: keys.Keys, medium: str | None) -> dict[str, Any]:
    """Add a subscriber's unsubscribe capability, made now: the database never holds it."""
    sid = meta.get("subscriber_id")
    if isinstance(sid, int) and medium in LINKED_MEDIA:
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
    if rule is None or not owners.needs_context(message):
        return message
    with store.transaction() as conn:
        extra = dict(rule(conn, message))
    return replace(message, meta={**message.meta, **extra}) if extra else message


def counts(conn: Connection, **where: Any) -> dict[str, int]:
    """Delivery counts by status for rows matching ``where`` (column=value)."""
    q = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
    for col, value in where.items():
        q = q.where(getattr(deliveries.c, col) == value)
    return {status: int(n) for status, n in conn.execute(q)}
