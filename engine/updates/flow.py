"""Operational updates in the store: draft, revise, approve, reject, publish.

Publishing writes one outbox row per (recipient, channel) in the approving transaction:
subscribers of the audience (in the incident's regions) for SMS, voice and email; one row
for each social, webhook or status-page channel. Only the audience's channels carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.delivery import outbox
from engine.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from engine.kernel.journal import append_event
from engine.kernel.models import Incident
from engine.kernel.roles import Perm, may
from engine.playbooks.channels import PERSONAL_MEDIA, Channel, endpoint, personal_address
from engine.playbooks.playbook import COMMS_LEAD_ROLE, Audience, Playbook
from engine.store.tables import (
    incidents,
    roster_members,
    subscribers,
    update_approvals,
    updates,
    users,
)
from engine.updates.rules import Rendered, may_approve, render, violations

OPEN = ("pending_approval",)


class StaleRevision(Conflict):
    code = "stale_revision"


def _variables(
    pb: Playbook, inc: Row[Any], audience: Audience, locale: str, now: datetime
) -> dict[str, Any]:
    cadence = pb.cadence.get(inc.severity)
    return {
        "incident": Incident.from_row(inc).template_vars(),
        "playbook": {"id": pb.id, "name": pb.name},
        "next_update_at": now + cadence if cadence else inc.next_update_due_at,
        "audience": audience.name,
        "locale": locale,
        "now": now,
    }


def _render(
    pb: Playbook,
    inc: Row[Any],
    *,
    audience: Audience,
    template: str | None,
    body: str | None,
    channel_texts: Mapping[str, str],
    locale: str,
    channels: Mapping[str, Channel],
    now: datetime,
) -> tuple[dict[str, Rendered], list[dict[str, str]]]:
    from jinja2 import TemplateError

    media = {n: c.medium for n, c in channels.items()}
    tpl = pb.templates.get(template) if template else None
    variables = _variables(pb, inc, audience, locale, now)
    try:
        rendered = render(
            playbook=pb,
            audience=audience,
            template=tpl,
            free_text=body,
            channel_texts=channel_texts,
            locale=locale,
            variables=variables,
            media=media,
        )
    except TemplateError as exc:
        raise ValidationFailed(
            f"the template does not render: {exc}", details={"template": str(exc)}
        ) from None
    found = violations(
        playbook=pb,
        audience=audience,
        rendered=rendered,
        media=media,
        closing=bool(tpl and tpl.closing),
    )
    return rendered, found


def draft(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    actor: str,
    audience: str,
    template: str | None,
    body: str | None,
    locale: str,
    channels: Mapping[str, Channel],
    now: datetime,
    hold: bool = False,
    role: str | None = None,
) -> tuple[int, bool]:
    """Create an update; returns (id, whether it went straight out as pre-approved).

    ``hold`` keeps it for a person even where the playbook would send it at once (a
    pre-approved template, an audience without approval): monitoring drafts this way, since a
    false alarm must not reach anyone without a human.
    """
    aud = pb.audiences.get(audience)
    problems: dict[str, str] = {}
    if aud is None:
        problems["audience"] = f"unknown audience (audiences: {', '.join(pb.audiences)})"
    if template and template not in pb.templates:
        problems["template"] = f"unknown template (templates: {', '.join(pb.templates)})"
    elif template and aud is not None and pb.templates[template].audience != audience:
        problems["template"] = f"template {template!r} is for {pb.templates[template].audience}"
    if not template and not (body and body.strip()):
        problems["body"] = "give a template or a body"
    chosen = pb.templates.get(template) if template else None
    if inc.resolved_at is not None and not (chosen and chosen.closing):
        closing = [t.name for t in pb.templates.values() if t.closing]
        problems["incident"] = "the incident is resolved" + (
            f" (closing templates: {', '.join(closing)})" if closing else ""
        )
    if problems or aud is None:
        raise ValidationFailed("the update could not be drafted", details=problems)
    rendered, found = _render(
        pb,
        inc,
        audience=aud,
        template=template,
        body=body,
        channel_texts={},
        locale=locale,
        channels=channels,
        now=now,
    )
    preapproved = bool(
        template and inc.severity in pb.templates[template].preapproved and not found and not hold
    )
    uid = int(
        conn.execute(
            updates.insert()
            .values(
                incident_id=inc.id,
                audience=audience,
                template=template,
                locale=locale,
                status="pending_approval",
                revision=1,
                author=actor,
                body=body,
                channel_texts={},
                rendered={k: asdict(v) for k, v in rendered.items()},
                violations=found,
                created_at=now,
                updated_at=now,
            )
            .returning(updates.c.id)
        ).scalar_one()
    )
    append_event(
        conn,
        incident_id=inc.id,
        type="drafted",
        actor=actor,
        at=now,
        data={"update": uid, "audience": audience, "template": template, "violations": len(found)},
    )
    if preapproved:
        append_event(
            conn,
            incident_id=inc.id,
            type="approved",
            actor=actor,
            at=now,
            data={
                "update": uid,
                "revision": 1,
                "preapproved": True,
                "template": template,
                "severity": inc.severity,
            },
        )
        publish(conn, pb, inc, update_id=uid, channels=channels, now=now)
    elif aud.approval is None and not found and not hold and may(role or "", Perm.PUBLISH):
        publish(conn, pb, inc, update_id=uid, channels=channels, now=now)
    else:
        plan_expiry(conn, aud, incident_id=inc.id, update_id=uid, revision=1, now=now)
    return uid, preapproved


def _load(conn: Connection, update_id: int, *, lock: bool) -> Row[Any]:
    q = sa.select(updates).where(updates.c.id == update_id)
    row = conn.execute(q.with_for_update() if lock else q).first()
    if row is None:
        raise NotFound(f"no update {update_id}")
    return row


def revise(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    update_id: int,
    actor: str,
    body: str | None,
    channel_texts: Mapping[str, str],
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    """A new revision: re-render, re-check; earlier approvals no longer count."""
    u = _load(conn, update_id, lock=True)
    _refuse_if_closed(pb, inc, u)
    if u.status not in ("pending_approval", "expired"):
        raise Conflict(f"update {update_id} is {u.status}; only drafts can be revised")
    aud = pb.audiences[u.audience]
    unknown = set(channel_texts) - set(aud.channels)
    if unknown:
        raise ValidationFailed(
            "only the audience's channels carry this update",
            details={"channels": f"not approved for {aud.name}: {', '.join(sorted(unknown))}"},
        )
    texts = dict(channel_texts)
    if body is not None:
        texts = {ch: body for ch in aud.channels} | texts
    rendered, found = _render(
        pb,
        inc,
        audience=aud,
        template=u.template,
        body=u.body,
        channel_texts=texts,
        locale=u.locale,
        channels=channels,
        now=now,
    )
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id)
        .values(
            revision=u.revision + 1,
            channel_texts=texts,
            status="pending_approval",
            rendered={k: asdict(v) for k, v in rendered.items()},
            violations=found,
            override_reason=None,
            updated_at=now,
            editors=sorted({*(u.editors or []), actor} - {u.author}),
        )
    )
    append_event(
        conn,
        incident_id=inc.id,
        type="revised",
        actor=actor,
        at=now,
        data={"update": update_id, "revision": u.revision + 1, "violations": len(found)},
    )
    plan_expiry(
        conn, aud, incident_id=inc.id, update_id=update_id, revision=u.revision + 1, now=now
    )


def approve(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    update_id: int,
    actor: str,
    role: str,
    revision: int,
    override_reason: str | None,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    u = _load(conn, update_id, lock=True)
    _refuse_if_closed(pb, inc, u)
    if u.status != "pending_approval":
        raise Conflict(f"update {update_id} is {u.status}")
    if revision != u.revision:
        raise StaleRevision(
            f"you approved revision {revision}, but the update is now at "
            f"revision {u.revision}: review it again"
        )
    aud = pb.audiences[u.audience]
    roster_roles = [
        r.role
        for r in conn.execute(
            sa.select(roster_members.c.role)
            .join(users, users.c.id == roster_members.c.user_id)
            .where(users.c.username == actor)
        )
    ]
    verdict = may_approve(
        audience=aud,
        approver=actor,
        approver_role=role,
        approver_roster_roles=roster_roles,
        authors=authors(u),
        has_violations=bool(u.violations),
        override_reason=override_reason,
    )
    if not verdict.allowed:
        if u.violations and "policy" in verdict.reason:
            raise ValidationFailed(verdict.reason, details={"violations": u.violations})
        raise Forbidden(verdict.reason)
    conn.execute(
        update_approvals.insert().values(
            update_id=update_id,
            revision=u.revision,
            by=actor,
            at=now,
            override_reason=override_reason,
        )
    )
    if u.violations:
        conn.execute(
            updates.update()
            .where(updates.c.id == update_id)
            .values(override_reason=override_reason)
        )
    append_event(
        conn,
        incident_id=inc.id,
        type="approved",
        actor=actor,
        at=now,
        data={
            "update": update_id,
            "revision": u.revision,
            **({"override": override_reason, "violations": u.violations} if u.violations else {}),
        },
    )
    publish(conn, pb, inc, update_id=update_id, channels=channels, now=now)


def authors(u: Row[Any]) -> list[str]:
    """Everyone who wrote a revision of the update: its author and every later editor."""
    return [u.author, *(e for e in (u.editors or []) if e != u.author)]


def _refuse_if_closed(pb: Playbook, inc: Row[Any], u: Row[Any]) -> None:
    """A draft of a resolved incident goes out only if the playbook calls it closing."""
    tpl = pb.templates.get(u.template) if u.template else None
    if inc.resolved_at is not None and not (tpl and tpl.closing):
        raise Conflict(
            f"INC-{inc.id} is resolved: update {u.id} was withdrawn and can no longer be "
            "approved (only a closing template's update can)"
        )


def withdraw_open(
    conn: Connection, pb: Playbook, inc: Row[Any], *, actor: str, now: datetime
) -> list[int]:
    """Withdraw the incident's pending drafts when it resolves (closing updates stay)."""
    rows = conn.execute(
        sa.select(updates.c.id, updates.c.template, updates.c.revision)
        .where(updates.c.incident_id == inc.id)
        .where(updates.c.status.in_(("pending_approval", "expired")))
        .with_for_update()
    ).all()
    gone = []
    for r in rows:
        tpl = pb.templates.get(r.template) if r.template else None
        if tpl is not None and tpl.closing:
            continue
        conn.execute(
            updates.update().where(updates.c.id == r.id).values(status="withdrawn", updated_at=now)
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="withdrawn",
            actor=actor,
            at=now,
            data={"update": r.id, "revision": r.revision, "reason": "the incident resolved"},
        )
        gone.append(int(r.id))
    return gone


def reject(
    conn: Connection, inc: Row[Any], *, update_id: int, actor: str, reason: str, now: datetime
) -> None:
    u = _load(conn, update_id, lock=True)
    if u.status != "pending_approval":
        raise Conflict(f"update {update_id} is {u.status}")
    if not reason.strip():
        raise ValidationFailed("say why", details={"reason": "a rejection needs a reason"})
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id)
        .values(status="rejected", reject_reason=reason.strip(), updated_at=now)
    )
    append_event(
        conn,
        incident_id=inc.id,
        type="rejected",
        actor=actor,
        at=now,
        data={"update": update_id, "revision": u.revision, "reason": reason.strip()},
    )


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
    u = _load(conn, update_id, lock=True)
    aud = pb.audiences[u.audience]
    regions = list(inc.regions or [])
    sub = subscribers.c
    q = sa.select(subscribers).where(
        sub.audience == aud.name, sub.opted_in.is_(True), sub.confirmed_at.is_not(None)
    )
    if regions:
        q = q.where(sa.or_(sub.region.is_(None), sub.region.in_(regions)))
    people = conn.execute(q).all()
    queued = 0
    for ch in aud.channels:
        channel = channels.get(ch)
        r = u.rendered.get(ch) or {}
        meta = {"incident_id": inc.id, "update_id": update_id, "audience": aud.name}
        if channel is None:
            continue
        if channel.medium in PERSONAL_MEDIA:
            for p in people:
                address = personal_address(channel, phone=p.phone, email=p.email)
                if not address:
                    continue
                fallback = _fallback(aud.fallback.get(ch), p, u, update_id, channels)
                outbox.enqueue(
                    conn,
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
                queued += 1
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
        from engine.paging import ladder as paging

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
    }


def plan_expiry(
    conn: Connection,
    aud: Audience,
    *,
    incident_id: int,
    update_id: int,
    revision: int,
    now: datetime,
) -> None:
    """A draft left unapproved escalates to the backup approver, then expires."""
    if aud.approval is None or aud.approval_expires is None:
        return
    from engine.timers import schedule as timers

    timers.schedule(
        conn,
        kind="approval_due",
        incident_id=incident_id,
        due_at=now + aud.approval_expires,
        now=now,
        dedupe_key=f"approval:{update_id}:{revision}:1",
        payload={"update_id": update_id, "revision": revision, "level": 1},
    )


def make_handlers(playbook_for: Any, channels: dict[str, Channel]) -> dict[str, Any]:
    """Timer effects for updates: escalate an unapproved draft, then expire it."""
    from engine.paging import ladder as paging
    from engine.playbooks.playbook import Target
    from engine.timers import schedule as timers

    def approval_due(conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = conn.execute(
            sa.select(incidents).where(incidents.c.id == timer.incident_id).with_for_update()
        ).first()
        u = conn.execute(
            sa.select(updates).where(updates.c.id == p["update_id"]).with_for_update()
        ).first()
        if (
            inc is None
            or u is None
            or u.status != "pending_approval"
            or u.revision != p["revision"]
        ):
            return "skipped"
        pb = playbook_for(conn, inc.playbook_version)
        aud = pb.audiences[u.audience]
        if p["level"] == 2:
            conn.execute(
                updates.update()
                .where(updates.c.id == u.id)
                .values(status="expired", updated_at=now)
            )
            append_event(
                conn,
                incident_id=inc.id,
                type="update_expired",
                actor="approvals",
                at=now,
                data={"update": u.id, "revision": u.revision},
            )
            return "expired"
        role = aud.backup_approver or COMMS_LEAD_ROLE
        people = paging.people_for(conn, Target("role", role), at=now)
        reached, missing = paging.send_notice(
            conn,
            pb,
            inc,
            people=people,
            prefer=("sms", "email"),
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why=f"update {u.id} waits for approval",
        )
        append_event(
            conn,
            incident_id=inc.id,
            type="approval_escalated",
            actor="approvals",
            at=now,
            data={
                "update": u.id,
                "revision": u.revision,
                "role": role,
                "to": reached,
                "unroutable": missing,
            },
        )
        if aud.approval_expires is not None:
            timers.schedule(
                conn,
                kind="approval_due",
                incident_id=inc.id,
                due_at=now + aud.approval_expires,
                now=now,
                dedupe_key=f"approval:{u.id}:{u.revision}:2",
                payload={"update_id": u.id, "revision": u.revision, "level": 2},
            )
        return "escalated"

    return {"approval_due": approval_due}
