"""Approval deadlines: a draft left unapproved escalates to the backup approver, then expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.journal import append_event
from engine.kernel.records import find_incident
from engine.paging import ladder as paging
from engine.playbooks.channels import Channel
from engine.playbooks.playbook import COMMS_LEAD_ROLE, Audience
from engine.timers import schedule as timers
from engine.updates import cards
from engine.updates._tables import updates


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

    def approval_due(conn: Connection, timer: Row[Any], now: datetime) -> str:
        p = timer.payload
        inc = find_incident(conn, timer.incident_id, lock=True)
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
            cards.refresh(conn, update_id=u.id, incident_id=inc.id, status="expired",
                          revision=u.revision, channels=channels, now=now)  # fmt: skip
            return "expired"
        role = aud.backup_approver or COMMS_LEAD_ROLE
        reached, missing = paging.notify_role(
            conn,
            pb,
            inc,
            role=role,
            channels=channels,
            now=now,
            key=timer.dedupe_key,
            why=f"update {u.id} waits for approval",
            message=f"update #{u.id} waits for your approval (you are the backup approver).",
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
