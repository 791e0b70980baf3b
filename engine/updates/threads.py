"""One thread per incident and social channel: the first public post starts it, every later
update (and the resolution) replies to the newest post in it. The provider's ids are kept
here, so the thread survives restarts; the outbox asks at send time (``Owners.context``) and
tells on success (``Owners.sent``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery import ledger
from engine.kernel.ports import OutboundMessage, Receipt
from engine.updates._tables import social_threads

THREADED = ("social", "chat")  # the media whose posts thread


def context(conn: Connection, m: OutboundMessage) -> dict[str, Any]:
    """``reply_to``: the newest post of this incident's thread on the message's channel; for
    a correction that edits in place, ``edit_of``: the corrected update's post there."""
    incident_id = m.meta.get("incident_id")
    if m.medium not in THREADED or not isinstance(incident_id, int):
        return {}
    corrected = m.meta.get("edit_update")
    if isinstance(corrected, int):
        post = ledger.provider_id_of(conn, kind="update", ref_id=corrected, channel=m.channel)
        if post:
            return {"edit_of": post}
    t = social_threads.c
    row = conn.execute(
        sa.select(t.root_id, t.last_id).where(t.incident_id == incident_id, t.channel == m.channel)
    ).first()
    return {} if row is None else {"reply_to": row.last_id, "thread_root": row.root_id}


def sent(conn: Connection, m: OutboundMessage, receipt: Receipt, now: datetime) -> None:
    """A post went out: the thread starts with it, or it becomes the one to reply to."""
    incident_id = m.meta.get("incident_id")
    if m.medium not in THREADED or not isinstance(incident_id, int) or not receipt.provider_id:
        return
    corrected = m.meta.get("edit_update")
    if isinstance(corrected, int) and receipt.provider_id == ledger.provider_id_of(
        conn, kind="update", ref_id=corrected, channel=m.channel
    ):
        return  # the corrected post was edited in place: the thread is as it was
    t = social_threads.c
    key = sa.and_(t.incident_id == incident_id, t.channel == m.channel)
    done = conn.execute(
        social_threads.update()
        .where(key)
        .values(last_id=receipt.provider_id, posts=t.posts + 1, updated_at=now)
    )
    if done.rowcount == 0:
        conn.execute(
            social_threads.insert().values(
                incident_id=incident_id,
                channel=m.channel,
                root_id=receipt.provider_id,
                last_id=receipt.provider_id,
                updated_at=now,
            )
        )


def thread_of(conn: Connection, incident_id: int) -> dict[str, dict[str, Any]]:
    """Per channel: the thread's first post, newest post and how many."""
    t = social_threads.c
    rows = conn.execute(sa.select(social_threads).where(t.incident_id == incident_id)).all()
    return {r.channel: {"root": r.root_id, "last": r.last_id, "posts": r.posts} for r in rows}
