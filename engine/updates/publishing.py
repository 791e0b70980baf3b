"""Publishing an approved update: one outbox row per (recipient, channel), in the approving
transaction — subscribers of the audience (in the incident's regions) for SMS, voice and email,
one row for each social, webhook or status-page channel; and an update as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.audience import subscriptions
from engine.delivery import outbox
from engine.kernel.errors import NotFound
from engine.kernel.journal import append_event
from engine.paging import ladder as paging
from engine.playbooks.channels import (
    EDITS_IN_PLACE,
    PERSONAL_MEDIA,
    Channel,
    endpoint,
    personal_address,
)
from engine.playbooks.playbook import Playbook
from engine.updates._tables import update_approvals, updates


def load_update(conn: Connection, update_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(updates).where(updates.c.id == update_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no update {update_id}")
    return row


def publish(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    update_id: int,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    """Queue the update: one outbox row per (recipient, channel)."""
    u = load_update(conn, update_id, lock=True)
    aud = pb.audiences[u.audience]
    regions = list(inc.regions or [])
    people = subscriptions.reachable(conn, audience=aud.name, regions=regions)
    queued = 0
    for ch in aud.channels:
        channel = channels.get(ch)
        r = u.rendered.get(ch) or {}
        meta = {
            "incident_id": inc.id,
            "update_id": update_id,
            "audience": aud.name,
            "locale": u.locale,
            # what a chat message shows beside the text (Slack's blocks)
            "title": inc.title,
            "severity": inc.severity,
            "state": inc.state,
        }
        if u.corrects is not None:  # a correction: edit the published post where it can be
            meta["corrects"] = u.corrects
            if channel is not None and channel.kind in EDITS_IN_PLACE:
                meta["edit_update"] = u.corrects
        if channel is None:
            continue
        if channel.medium in PERSONAL_MEDIA:
            rows = []  # one set-based insert per channel, however many people
            for p in people:
                address = personal_address(channel, phone=p.phone, email=p.email)
                if not address:
                    continue
                fallback = _fallback(aud.fallback.get(ch), p, u, update_id, channels)
                rows.append(
                    outbox.row(
                        kind="update",
                        incident_id=inc.id,
                        ref_id=update_id,
                        channel=ch,
                        address=address,
                        subject=r.get("subject"),
                        body=r.get("text", ""),
                        now=now,
                        meta=meta
                        | {"subscriber_id": p.id, **fallback}
                        | ({"html": r["html"]} if r.get("html") else {}),
                        dedupe_key=f"update:{update_id}:{ch}:{p.id}",
                    )
                )
            outbox.enqueue_many(conn, rows)
            queued += len(rows)
        else:
            outbox.enqueue(
                conn,
                kind="update",
                incident_id=inc.id,
                ref_id=update_id,
                channel=ch,
                address=endpoint(channel),
                subject=r.get("subject"),
                body=r.get("text", ""),
                now=now,
                meta=meta,
                dedupe_key=f"update:{update_id}:{ch}",
            )
            queued += 1
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id)
        .values(status="sending", published_at=now, updated_at=now)
    )
    append_event(
        conn,
        incident_id=inc.id,
        type="published",
        actor="outbox",
        at=now,
        data={"update": update_id, "audience": aud.name, "deliveries": queued},
    )
    if queued == 0:  # never silent: an update that reaches nobody says so
        append_event(
            conn,
            incident_id=inc.id,
            type="no_recipients",
            actor="outbox",
            at=now,
            data={
                "update": update_id,
                "audience": aud.name,
                "hint": "add subscribers to this audience, or channels to it",
            },
        )
    if aud.public:
        paging.note_public_update(conn, pb, inc, at=now, now=now)


def _fallback(
    fb: str | None, person: Row[Any], u: Row[Any], update_id: int, channels: Mapping[str, Channel]
) -> dict[str, Any]:
    """What to send instead if this delivery fails for good (none: an empty dict)."""
    channel = channels.get(fb) if fb else None
    if channel is None or fb is None:
        return {}
    personal = channel.medium in PERSONAL_MEDIA
    address = (
        personal_address(channel, phone=person.phone, email=person.email)
        if personal
        else endpoint(channel)
    )
    if not address:
        return {}
    r: dict[str, Any] = u.rendered.get(fb) or next(iter(u.rendered.values()), {})
    key = f"update:{update_id}:{fb}:{person.id}" if personal else f"update:{update_id}:{fb}"
    return {
        "fallback": {
            "channel": fb,
            "address": address,
            "body": r.get("text", ""),
            "subject": r.get("subject"),
            "dedupe_key": key,
        }
    }


def update_json(conn: Connection, u: Row[Any]) -> dict[str, Any]:
    counts = outbox.counts(conn, kind="update", ref_id=u.id)
    progress = {
        "pending": counts.get("pending", 0) + counts.get("sending", 0) + counts.get("sent", 0),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0),
        "dead": counts.get("dead", 0),
    }
    status = u.status
    if status == "sending" and progress["pending"] == 0:
        reached = progress["delivered"] > 0
        failures = progress["failed"] or progress["dead"]
        status = "sent" if reached and not failures else "partially_failed"
    approvals = [
        {"by": a.by, "at": a.at, "revision": a.revision, "override_reason": a.override_reason}
        for a in conn.execute(
            sa.select(update_approvals)
            .where(update_approvals.c.update_id == u.id)
            .order_by(update_approvals.c.id)
        )
    ]
    return {
        "id": u.id,
        "incident_id": u.incident_id,
        "audience": u.audience,
        "template": u.template,
        "locale": u.locale,
        "status": status,
        "revision": u.revision,
        "author": u.author,
        "channels": list(u.rendered),
        "rendered": {k: v["text"] for k, v in u.rendered.items()},
        "subjects": {k: v.get("subject") for k, v in u.rendered.items()},
        "segments": {
            k: v["segments"] for k, v in u.rendered.items() if v.get("segments") is not None
        },
        "policy_violations": list(u.violations),
        "approvals": approvals,
        "deliveries": progress,
        "created_at": u.created_at,
        "published_at": u.published_at,
        "reject_reason": u.reject_reason,
        "corrects": u.corrects,
    }
