"""Approval cards in chat: every update that waits for approval is shown, with Approve and
Reject buttons, in each chat channel configured for approvals (``options.approvals: true``);
whatever happens to the update afterwards — a new revision, approval, rejection, expiry,
withdrawal, from chat or from anywhere else — updates that same message, so no stale button
stays behind.

Each change queues one outbox message (``approval_card``) per approvals channel; what the card
shows is read when it is sent (``context``), so a card always shows the update as it is then.
The first message of a card posts it and keeps its id (``chat_cards``); later ones edit it,
and wait (a short retry) while the first post is still on its way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.delivery import outbox
from engine.kernel.errors import SendFailed
from engine.kernel.journal import events_after
from engine.kernel.ports import OutboundMessage, Receipt
from engine.kernel.records import find_incident
from engine.playbooks.channels import APPROVAL_CARDS, Channel, endpoint
from engine.updates._tables import chat_cards, update_approvals, updates

KIND = "approval_card"
DECIDED = ("sending", "sent", "rejected", "expired", "withdrawn")


def approval_channels(channels: Mapping[str, Channel]) -> list[Channel]:
    """The chat channels that show approval cards."""
    return [
        c for c in channels.values()
        if c.kind in APPROVAL_CARDS
        and c.options.get("approvals", "").lower() in ("true", "yes", "1")
    ]  # fmt: skip


def refresh(
    conn: Connection,
    *,
    update_id: int,
    incident_id: int,
    status: str,
    revision: int,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    """Queue the card's new look in every approvals channel (once per status and revision)."""
    for c in approval_channels(channels):
        outbox.enqueue(
            conn,
            kind=KIND,
            channel=c.name,
            address=endpoint(c),
            body=f"update #{update_id}: {status.replace('_', ' ')}",
            now=now,
            dedupe_key=f"card:{update_id}:{c.name}:{status}:{revision}",
            incident_id=incident_id,
            ref_id=update_id,
            meta={"update_id": update_id, "incident_id": incident_id},
            max_attempts=30,
        )


def context(conn: Connection, m: OutboundMessage) -> dict[str, Any]:
    """The card as the update is now, and the message to edit (if it is already posted)."""
    update_id = int(m.meta["update_id"])
    c = chat_cards.c
    key = sa.and_(c.update_id == update_id, c.channel == m.channel)
    row = conn.execute(sa.select(chat_cards).where(key)).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    chat_cards.insert().values(
                        update_id=update_id, channel=m.channel, provider_id=None,
                        poster=m.delivery_id, updated_at=datetime.now(UTC),
                    )
                )  # fmt: skip
        except sa.exc.IntegrityError:
            row = conn.execute(sa.select(chat_cards).where(key)).first()
    if row is not None and row.provider_id is None and row.poster != m.delivery_id:
        raise SendFailed(
            "the approval card is still being posted", permanent=False, code="card_pending",
            retry_after=2,
        )  # fmt: skip
    extra: dict[str, Any] = {"card": card(conn, update_id)}
    if row is not None and row.provider_id:
        extra["edit_of"] = row.provider_id
    return extra


def sent(conn: Connection, m: OutboundMessage, receipt: Receipt, now: datetime) -> None:
    """The first post of a card: keep its id, so every later change edits it (a later
    delivery of the card is not its poster, so it changes nothing here)."""
    if not receipt.provider_id:
        return
    c = chat_cards.c
    conn.execute(
        chat_cards.update()
        .where(
            c.update_id == m.meta["update_id"], c.channel == m.channel, c.poster == m.delivery_id
        )
        .values(provider_id=receipt.provider_id, updated_at=now)
    )


def failed(conn: Connection, m: OutboundMessage, now: datetime) -> None:
    """A first post that failed for good: the next change posts the card afresh."""
    c = chat_cards.c
    conn.execute(
        chat_cards.delete().where(
            c.update_id == m.meta["update_id"], c.channel == m.channel,
            c.poster == m.delivery_id, c.provider_id.is_(None),
        )
    )  # fmt: skip


def card(conn: Connection, update_id: int) -> dict[str, Any]:
    """What an approval card shows: the update, its incident, and the decision if any."""
    u = conn.execute(sa.select(updates).where(updates.c.id == update_id)).one()
    inc = find_incident(conn, u.incident_id, lock=False)
    out: dict[str, Any] = {
        "update_id": u.id,
        "revision": u.revision,
        "status": u.status,
        "audience": u.audience,
        "author": u.author,
        "texts": {ch: r.get("text", "") for ch, r in (u.rendered or {}).items()},
        "translations": {  # the other languages, approved with it: {locale: {channel: text}}
            loc: {ch: r.get("text", "") for ch, r in (v.get("rendered") or {}).items()}
            for loc, v in (u.variants or {}).items()
        },
        "violations": [v.get("message", "") for v in (u.violations or [])],
        "incident": {
            "id": u.incident_id,
            "title": inc.title if inc is not None else "",
            "severity": inc.severity if inc is not None else "",
            "state": inc.state if inc is not None else "",
        },
    }
    if u.status in DECIDED:
        out["decided"] = _decision(conn, u)
    return out


def _decision(conn: Connection, u: Any) -> dict[str, Any]:
    if u.status in ("sending", "sent"):
        a = conn.execute(
            sa.select(update_approvals)
            .where(update_approvals.c.update_id == u.id)
            .order_by(update_approvals.c.id.desc())
        ).first()
        if a is not None:
            return {"outcome": "approved", "by": a.by, "at": a.at.isoformat()}
        at = u.published_at or u.updated_at
        return {"outcome": "approved", "by": "pre-approved", "at": at.isoformat()}
    kind = {"rejected": "rejected", "expired": "update_expired", "withdrawn": "withdrawn"}
    return {
        "outcome": u.status,
        "by": _last_actor(conn, u.incident_id, u.id, kind[u.status]),
        "at": u.updated_at.isoformat(),
        "reason": u.reject_reason or "",
    }


def _last_actor(conn: Connection, incident_id: int, update_id: int, kind: str) -> str:
    for e in reversed(events_after(conn, incident_id, 0)):
        if e.type == kind and (e.data or {}).get("update") == update_id:
            return str(e.actor or "")
    return ""
