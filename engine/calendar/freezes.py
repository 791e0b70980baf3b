"""Freezes: the gate, creating and lifting, and what an active freeze would hold.

Creating a freeze takes the gate (one row) exclusively; the publisher takes it shared, so a
freeze and a publish never interleave: no post a freeze matches is published after the
freeze commits, and creating a freeze costs the same however large the calendar is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.calendar import external
from engine.calendar._tables import freeze_gate, freezes, posts
from engine.calendar.rules import PostFacts, Scope, after_lift, holding, matches
from engine.delivery import outbox
from engine.kernel.errors import Conflict, NotFound, ValidationFailed
from engine.kernel.journal import append_event
from engine.kernel.ports import OutboundMessage
from engine.kernel.records import incident_row, lock_incident
from engine.kernel.uow import note_due
from engine.playbooks.channels import Channel, endpoint
from engine.playbooks.connectors import Connector
from engine.playbooks.places import key as places_key
from engine.playbooks.playbook import Playbook

# Built once, run with parameters (every declare creates a freeze).
_PLAYBOOKS_FREEZE = sa.select(freezes.c.id).where(
    freezes.c.incident_id == sa.bindparam("incident"), freezes.c.created_by == "playbook"
)
_GATE_EXCLUSIVE = (
    freeze_gate.update().where(freeze_gate.c.id == 1).values(version=freeze_gate.c.version + 1)
)
_INSERT_FREEZE = freezes.insert().returning(freezes.c.id)
_FREEZES_OF = (
    sa.select(freezes.c.incident_id, freezes.c.id)
    .where(freezes.c.incident_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(freezes.c.id)
)


def playbook_freeze(
    conn: Connection,
    pb: Playbook,
    *,
    incident_id: int,
    regions: Sequence[str],
    actor: str,
    now: datetime,
    channels: Mapping[str, Channel],
    stamp: Callable[[], datetime],
    connectors: Mapping[str, Connector] | None = None,
) -> None:
    """Create the playbook's freeze for this incident, once (in the caller's transaction)."""
    rule = pb.freeze
    assert rule is not None
    exists = conn.execute(_PLAYBOOKS_FREEZE, {"incident": incident_id}).first()
    if exists:
        return
    scope = Scope(
        rule.scope.channels,
        rule.scope.tags,
        tuple(regions)
        if rule.scope.incident_regions
        else tuple(places_key(r) for r in rule.scope.regions),
    )
    if scope.empty:
        return  # `regions: incident` on an incident without regions and nothing else
    create_freeze(
        conn,
        scope=scope,
        reason=f"INC-{incident_id} ({pb.name}) — declared by {actor}",
        actor="playbook",
        now=now,
        channels=channels,
        incident_id=incident_id,
        on_lift=rule.on_lift,
        cooldown=rule.cooldown,
        stamp=stamp,
        connectors=connectors,
    )


def gate_share(conn: Connection) -> None:
    """Hold the gate shared until commit (publishers); SQLite's write lock already does."""
    q = sa.select(freeze_gate.c.version).where(freeze_gate.c.id == 1)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(read=True)
    conn.execute(q)


def gate_exclusive(conn: Connection) -> None:
    """Hold the gate exclusively until commit (freeze creation)."""
    conn.execute(_GATE_EXCLUSIVE)


def active_scopes(conn: Connection) -> dict[int, Scope]:
    rows = conn.execute(
        sa.select(freezes.c.id, freezes.c.scope).where(freezes.c.lifted_at.is_(None))
    )
    return {r.id: Scope.from_json(r.scope) for r in rows}


def freeze_ids_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[int]]:
    """Each incident's freezes (ids, oldest first), for the incidents ``ids``."""
    out: dict[int, list[int]] = {}
    if ids:
        for incident_id, fid in conn.execute(_FREEZES_OF, {"ids": list(ids)}).all():
            out.setdefault(int(incident_id), []).append(int(fid))
    return out


def counts(conn: Connection) -> tuple[int, int]:
    """(active freezes, held posts)."""
    active = conn.execute(
        sa.select(sa.func.count()).select_from(freezes).where(freezes.c.lifted_at.is_(None))
    ).scalar_one()
    held = conn.execute(
        sa.select(sa.func.count()).select_from(posts).where(posts.c.state == "held")
    ).scalar_one()
    return int(active), int(held)


def facts(row: Row[Any]) -> PostFacts:
    return PostFacts(row.channel, tuple(row.tags or ()), tuple(row.regions or ()))


def create_freeze(
    conn: Connection,
    *,
    scope: Scope,
    reason: str,
    actor: str,
    now: datetime,
    channels: Mapping[str, Channel],
    incident_id: int | None = None,
    on_lift: str = "review",
    cooldown: timedelta = timedelta(0),
    stamp: Callable[[], datetime] | None = None,
    connectors: Mapping[str, Connector] | None = None,
) -> int:
    """Create a freeze (the gate first, so in-flight publishes finish or see it).

    ``stamp`` reads the clock for ``created_at`` after the gate is held (see publish_due).
    """
    if scope.empty:
        raise ValidationFailed(
            "an empty scope would freeze everything: name channels, tags or regions",
            details={"scope": "name channels, tags or regions"},
        )
    if not reason.strip():
        raise ValidationFailed("say why", details={"reason": "a freeze needs a reason"})
    gate_exclusive(conn)
    now = stamp() if stamp else now
    fid = int(
        conn.execute(
            _INSERT_FREEZE,
            {
                "incident_id": incident_id,
                "scope": scope.to_json(),
                "reason": reason.strip(),
                "on_lift": on_lift,
                "cooldown_seconds": int(cooldown.total_seconds()),
                "created_by": actor,
                "created_at": now,
            },
        ).scalar_one()
    )
    reached = external.start(conn, connectors or {}, freeze_id=fid, scope=scope, now=now)
    if incident_id is not None:
        data: dict[str, Any] = {"freeze": fid, "scope": scope.to_json(), "on_lift": on_lift}
        if reached:
            data["connectors"] = reached
        append_event(conn, incident_id=incident_id, type="froze", actor=actor, at=now, data=data)
    _notify_schedulers(conn, "freeze.created", fid, channels=channels, now=now)
    return fid


def _freeze_row(conn: Connection, freeze_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(freezes).where(freezes.c.id == freeze_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no freeze {freeze_id}")
    return row


def lift_freeze(
    conn: Connection,
    *,
    freeze_id: int,
    actor: str,
    reason: str,
    now: datetime,
    channels: Mapping[str, Channel],
    force: bool = False,
    connectors: Mapping[str, Connector] | None = None,
) -> dict[str, int]:
    """Lift a freeze and apply its on_lift policy to the posts it held; counts by outcome."""
    if not reason.strip():
        raise ValidationFailed("say why", details={"reason": "lifting needs a reason"})
    gate_exclusive(conn)
    f = _freeze_row(conn, freeze_id, lock=True)
    if f.lifted_at is not None:
        raise Conflict(f"freeze {freeze_id} was already lifted by {f.lifted_by}")
    if f.incident_id is not None and f.cooldown_seconds and not force:
        inc = incident_row(conn, f.incident_id, lock=False)
        until = inc.resolved_at + timedelta(seconds=f.cooldown_seconds) if inc.resolved_at else None
        if until is not None and now < until:
            raise Conflict(
                f"the playbook keeps this freeze until {until:%H:%M}Z "
                f"({f.cooldown_seconds // 60} min after resolution); "
                "lift with force to override"
            )
    conn.execute(
        freezes.update()
        .where(freezes.c.id == freeze_id)
        .values(lifted_by=actor, lifted_at=now, lift_reason=reason.strip())
    )
    remaining = active_scopes(conn)
    outcome = {"review": 0, "scheduled": 0, "cancelled": 0, "still_held": 0}
    p = posts.c
    for row in conn.execute(sa.select(posts).where(p.state == "held").with_for_update()).all():
        if freeze_id not in (row.held_by or []):
            continue
        still = holding(remaining, facts(row))
        d = after_lift(f.on_lift, publish_at=row.publish_at, now=now, still_held_by=still)
        conn.execute(
            posts.update()
            .where(p.id == row.id)
            .values(
                state=d.state,
                review=d.review,
                held_by=still if d.state == "held" else [],
                updated_at=now,
            )
        )
        key = "still_held" if still else ("review" if d.review else d.state)
        outcome[key] += 1
        if d.state == "scheduled":
            note_due(conn, row.publish_at)
    elsewhere = external.after_lift(
        conn, connectors or {}, freeze_id=freeze_id, policy=f.on_lift, remaining=remaining, now=now
    )
    if f.incident_id is not None:
        lock_incident(conn, f.incident_id)
        append_event(
            conn,
            incident_id=f.incident_id,
            type="freeze_lifted",
            actor=actor,
            at=now,
            data={
                "freeze": freeze_id,
                "reason": reason.strip(),
                "on_lift": f.on_lift,
                "posts": outcome,
                "platforms": elsewhere,
                "forced": force,
            },
        )
    _notify_schedulers(conn, "freeze.lifted", freeze_id, channels=channels, now=now)
    return outcome


def freeze_json(r: Row[Any]) -> dict[str, Any]:
    return {
        "id": r.id,
        "incident_id": r.incident_id,
        "scope": dict(r.scope),
        "reason": r.reason,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "lifted_by": r.lifted_by,
        "lifted_at": r.lifted_at,
        "lift_reason": r.lift_reason,
        "on_lift": r.on_lift,
        "cooldown_seconds": r.cooldown_seconds,
    }


def would_hold(
    conn: Connection, *, channel: str | None, tag: str | None, region: str | None
) -> list[dict[str, Any]]:
    """Active freezes that would hold a post on ``channel`` with ``tag`` for ``region``."""
    post = PostFacts(channel or "", (tag,) if tag else (), (region,) if region else ())
    out = []
    for r in conn.execute(
        sa.select(freezes).where(freezes.c.lifted_at.is_(None)).order_by(freezes.c.id)
    ):
        scope = Scope.from_json(r.scope)
        if channel is None and scope.channels:
            scope = Scope((), scope.tags, scope.regions)
        if matches(scope, post):
            out.append(freeze_json(r))
    return out


def _notify_schedulers(
    conn: Connection, event: str, freeze_id: int, *, channels: Mapping[str, Channel], now: datetime
) -> None:
    """Queue a signed webhook to every channel subscribed to freeze events."""
    subscribed = [
        c
        for c in channels.values()
        if "freeze" in c.options.get("events", "").replace(",", " ").split()
    ]
    if not subscribed:
        return
    payload = freeze_json(_freeze_row(conn, freeze_id, lock=False))
    body = json.dumps({"event": event, "freeze": payload}, default=_iso, sort_keys=True)
    for ch in subscribed:
        outbox.enqueue(
            conn,
            kind="webhook",
            channel=ch.name,
            address=endpoint(ch),
            body=body,
            now=now,
            dedupe_key=f"{event}:{freeze_id}:{ch.name}",
            meta={"event": event, "freeze_id": freeze_id},
        )


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


# --- what the outbox asks the calendar ----------------------------------------------------
def frozen_posts(conn: Connection, rows: Sequence[Any], now: datetime) -> set[int]:
    """Post deliveries a freeze committed since they were queued: hold the post instead."""
    gate_share(conn)
    scopes = active_scopes(conn)
    if not scopes:
        return set()
    out: set[int] = set()
    for r in rows:
        post = conn.execute(
            sa.select(posts).where(posts.c.id == r.ref_id).with_for_update()
        ).first()
        if post is None:
            continue
        held = holding(scopes, facts(post))
        if held:
            conn.execute(
                posts.update()
                .where(posts.c.id == post.id)
                .values(state="held", held_by=held, review=False, published_at=None, updated_at=now)
            )
            out.add(r.id)
    return out


def post_failed(conn: Connection, message: OutboundMessage, now: datetime) -> None:
    """The post's send failed for good: the calendar shows it failed."""
    post_id = message.meta.get("post_id")
    conn.execute(posts.update().where(posts.c.id == post_id).values(state="failed", updated_at=now))
