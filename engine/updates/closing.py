"""What resolution does to updates: pending drafts are withdrawn, and each audience that was
told about the incident gets its closing update drafted (issue 16: everyone who heard about an
incident hears that it is over)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.journal import append_event
from engine.playbooks.channels import Channel
from engine.playbooks.places import NO_PLACES, Places
from engine.playbooks.playbook import Playbook
from engine.public import projection as public
from engine.updates import cards
from engine.updates._tables import updates
from engine.updates.flow import draft


def withdraw_open(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    actor: str,
    channels: Mapping[str, Channel],
    now: datetime,
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
        cards.refresh(conn, update_id=r.id, incident_id=inc.id, status="withdrawn",
                      revision=r.revision, channels=channels, now=now)  # fmt: skip
        gone.append(int(r.id))
    return gone


def close_out(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    actor: str,
    role: str,
    channels: Mapping[str, Channel],
    now: datetime,
    places: Places = NO_PLACES,
) -> list[int]:
    """When the incident resolves, draft each audience's resolution update (``pb.resolved``)
    for every audience that was told about it (one update in every language its template is
    written in, so each person hears it once, in theirs): it goes out at once where the
    playbook lets it (pre-approved, or no approval), else it waits for approval like any
    update. An audience that already has that closing update drafted is not drafted again."""
    u = updates.c
    heard = conn.execute(
        sa.select(u.audience, u.locale)
        .where(u.incident_id == inc.id, u.published_at.is_not(None), u.author != "system")
        .distinct()
    ).all()
    drafted = {
        (r.audience, r.template)
        for r in conn.execute(
            sa.select(u.audience, u.template).where(
                u.incident_id == inc.id, u.status.not_in(("withdrawn", "rejected"))
            )
        )
    }
    out: list[int] = []
    for audience, locale in sorted({(r.audience, r.locale) for r in heard}):
        name = pb.resolved.get(audience)
        if name is None or (audience, name) in drafted:
            continue
        body = pb.templates[name].body
        lang = locale if locale in body else next(iter(body))
        drafted.add((audience, name))  # once per audience; its own language: the first heard
        uid, _ = draft(
            conn,
            pb,
            inc,
            actor=actor,
            audience=audience,
            template=name,
            body=None,
            locale=lang,
            channels=channels,
            now=now,
            role=role,
            places=places,
        )
        out.append(uid)
    return out


def announce_resolution(
    conn: Connection, pb: Playbook, inc: Row[Any], *, state: str, actor: str, now: datetime
) -> int | None:
    """Say publicly that an incident the public knows about is resolved.

    Only incidents with a published public entry get one, and the text is fixed: it states a
    fact the comms lead already chose to make public, so it needs no approval. It is stored as
    an update (author ``system``) so that it has a CAP document like every other entry.
    """
    if not public.was_public(conn, inc.id):
        return None
    audience = next((a.name for a in pb.audiences.values() if a.public), "public")
    text = public.RESOLVED_TEXT
    rendered = {"status_page": {"text": text, "subject": None, "segments": None}}
    uid = int(
        conn.execute(
            updates.insert()
            .values(
                incident_id=inc.id,
                audience=audience,
                template=None,
                locale="en",
                status="sent",
                revision=1,
                author="system",
                body=text,
                channel_texts={},
                rendered=rendered,
                violations=[],
                created_at=now,
                updated_at=now,
                published_at=now,
            )
            .returning(updates.c.id)
        ).scalar_one()
    )
    public.record_resolution(conn, inc, update_id=uid, text=text, state=state, now=now)
    append_event(
        conn,
        incident_id=inc.id,
        type="published",
        actor=actor,
        at=now,
        data={"update": uid, "audience": audience, "public": "resolution", "deliveries": 0},
    )
    return uid
