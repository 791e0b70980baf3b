"""Operational updates in the store: draft, revise, approve, reject, withdraw.

Approval of the last required approver publishes (``publishing``) in the same transaction;
deadlines on approval are timers (``expiry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.kernel.errors import Conflict, Forbidden, ValidationFailed
from engine.kernel.journal import append_event
from engine.paging import rosterdb
from engine.playbooks.channels import Channel
from engine.playbooks.places import NO_PLACES, Places
from engine.playbooks.playbook import Playbook
from engine.updates import cards, corrections, drafting, locales
from engine.updates._tables import update_approvals, updates
from engine.updates.expiry import plan_expiry
from engine.updates.publishing import load_update, publish
from engine.updates.rules import may_approve

OPEN = ("pending_approval",)


class StaleRevision(Conflict):
    code = "stale_revision"


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
    corrects: int | None = None,
    places: Places = NO_PLACES,
    notify: bool = True,
) -> tuple[int, bool]:
    """Create an update; returns (id, whether it went straight out as pre-approved).

    ``hold`` keeps it for a person even where the playbook would send it at once (a
    pre-approved template, an audience without approval): monitoring drafts this way, since a
    false alarm must not reach anyone without a human. ``notify`` False posts it to the
    audience's broadcast channels only: its subscribers are not messaged.
    """
    aud, problems = drafting.check(pb, inc, audience=audience, template=template, body=body,
                                   corrects=corrects)  # fmt: skip
    texts: dict[str, str] = {}
    if corrects is not None and aud is not None and body and body.strip():
        texts = corrections.texts_of(conn, inc, aud, corrects, body=body, locale=locale,
                                     channels=channels, problems=problems)  # fmt: skip
    if problems or aud is None:
        raise ValidationFailed("the update could not be drafted", details=problems)
    d = drafting.render_update(
        pb,
        inc,
        audience=aud,
        template=template,
        body=body,
        channel_texts=texts,
        locale=locale,
        channels=channels,
        now=now,
        correction=corrects is not None,
        places=places,
    )
    rendered, found = d.rendered, d.found
    why = drafting.goes_out_at_once(pb, inc, aud, template=template, found=found, role=role,
                                    hold=hold)  # fmt: skip
    preapproved = why == "preapproved"
    uid = int(
        conn.execute(
            updates.insert()
            .values(
                incident_id=inc.id,
                audience=audience,
                template=template,
                locale=d.locale,
                status="pending_approval",
                revision=1,
                author=actor,
                body=body,
                channel_texts=texts,
                corrects=corrects,
                rendered={k: asdict(v) for k, v in rendered.items()},
                variants=d.stored_variants({}),
                notify=notify,
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
        data={"update": uid, "audience": audience, "template": template, "violations": len(found)}
        | ({"corrects": corrects} if corrects is not None else {}),
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
    elif why == "no approval":
        publish(conn, pb, inc, update_id=uid, channels=channels, now=now)
    else:
        plan_expiry(conn, aud, incident_id=inc.id, update_id=uid, revision=1, now=now)
        cards.refresh(conn, update_id=uid, incident_id=inc.id, status="pending_approval",
                      revision=1, channels=channels, now=now)  # fmt: skip
    return uid, preapproved


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
    places: Places = NO_PLACES,
    variant_texts: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """A new revision: re-render, re-check; earlier approvals no longer count.

    ``variant_texts`` edits the update's other languages (``{"fr": {"sms": …}}``); a text
    changed in its own language and not in another is a policy problem of that language."""
    u = load_update(conn, update_id, lock=True)
    _refuse_if_closed(pb, inc, u)
    if u.status not in ("pending_approval", "expired"):
        raise Conflict(f"update {update_id} is {u.status}; only drafts can be revised")
    aud = pb.audiences[u.audience]
    stored = dict(u.variants or {})
    unknown = set(channel_texts).union(*(variant_texts or {}).values()) - set(aud.channels)
    strange = set(variant_texts or {}) - set(stored)
    if strange:
        raise ValidationFailed(
            "the update is not written in that language",
            details={"variants": f"its other languages: {', '.join(stored) or 'none'}"},
        )
    posts = {
        f"{loc}: {ch}"
        for loc, texts in (variant_texts or {}).items()
        for ch in set(texts) - set(stored[loc].get("rendered") or {})
    }
    if posts:
        raise ValidationFailed(
            "the other languages go to people one by one (SMS, email, voice): a post carries "
            "the update's own language",
            details={"variants": ", ".join(sorted(posts))},
        )
    if unknown:
        raise ValidationFailed(
            "only the audience's channels carry this update",
            details={"channels": f"not approved for {aud.name}: {', '.join(sorted(unknown))}"},
        )
    texts = dict(channel_texts)
    if body is not None and u.corrects is not None:
        texts = corrections.texts(body, aud, locale=u.locale, channels=channels) | texts
    elif body is not None:
        texts = {ch: body for ch in aud.channels} | texts
    edits = {
        loc: dict(v.get("channel_texts") or {}) | dict((variant_texts or {}).get(loc) or {})
        for loc, v in stored.items()
    }
    d = drafting.render_update(
        pb,
        inc,
        audience=aud,
        template=u.template,
        body=u.body,
        channel_texts=texts,
        locale=u.locale,
        channels=channels,
        now=now,
        correction=u.corrects is not None,
        places=places,
        variant_texts=edits,
    )
    rendered, found = d.rendered, d.found
    found += locales.behind(
        d.locale,
        {ch: r.get("text", "") for ch, r in u.rendered.items()},
        {ch: r.text for ch, r in rendered.items()},
        {loc: {ch: r.get("text", "") for ch, r in (v.get("rendered") or {}).items()}
         for loc, v in stored.items()},
        {loc: {ch: r.text for ch, r in rs.items()} for loc, rs in d.variants.items()},
    )  # fmt: skip
    conn.execute(
        updates.update()
        .where(updates.c.id == update_id)
        .values(
            revision=u.revision + 1,
            channel_texts=texts,
            status="pending_approval",
            rendered={k: asdict(v) for k, v in rendered.items()},
            variants=d.stored_variants(edits),
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
    cards.refresh(conn, update_id=update_id, incident_id=inc.id, status="pending_approval",
                  revision=u.revision + 1, channels=channels, now=now)  # fmt: skip


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
    u = load_update(conn, update_id, lock=True)
    _refuse_if_closed(pb, inc, u)
    if u.status != "pending_approval":
        raise Conflict(f"update {update_id} is {u.status}")
    if revision != u.revision:
        raise StaleRevision(
            f"you approved revision {revision}, but the update is now at "
            f"revision {u.revision}: review it again"
        )
    aud = pb.audiences[u.audience]
    roster_roles = rosterdb.roles_of(conn, actor)
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
    cards.refresh(conn, update_id=update_id, incident_id=inc.id, status="sending",
                  revision=u.revision, channels=channels, now=now)  # fmt: skip


def authors(u: Row[Any]) -> list[str]:
    """Everyone who wrote a revision of the update: its author and every later editor."""
    return [u.author, *(e for e in (u.editors or []) if e != u.author)]


def _refuse_if_closed(pb: Playbook, inc: Row[Any], u: Row[Any]) -> None:
    """A draft of a resolved incident goes out only if the playbook calls it closing."""
    tpl = pb.templates.get(u.template) if u.template else None
    if inc.resolved_at is not None and not (tpl and tpl.closing) and u.corrects is None:
        raise Conflict(
            f"INC-{inc.id} is resolved: update {u.id} was withdrawn and can no longer be "
            "approved (only a closing template's update can)"
        )


def reject(
    conn: Connection,
    inc: Row[Any],
    *,
    update_id: int,
    actor: str,
    reason: str,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    u = load_update(conn, update_id, lock=True)
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
    cards.refresh(conn, update_id=update_id, incident_id=inc.id, status="rejected",
                  revision=u.revision, channels=channels, now=now)  # fmt: skip
