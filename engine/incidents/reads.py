"""Incidents, read: one incident, a page of them with what the list shows, the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.kernel.errors import ValidationFailed
from engine.kernel.models import Actor, Event, Incident
from engine.kernel.records import event_of, incident_row
from engine.kernel.roles import Perm, may
from engine.kernel.uow import Work
from engine.playbooks.catalog import Catalog
from engine.playbooks.playbook import Playbook
from engine.store.tables import deliveries, events, freezes, incidents, users
from engine.store.tables import timers as timer_table

OPEN, RESOLVED, ALL = "open", "resolved", "all"


@dataclass(frozen=True)
class Page:
    items: list[Incident]
    page: int
    per_page: int
    total: int


class IncidentReads:
    def __init__(self, work: Work, *, catalog: Catalog) -> None:
        self.work = work
        self.catalog = catalog

    def get(self, *, incident_id: int) -> Incident:
        with self.work.read() as conn:
            return Incident.from_row(incident_row(conn, incident_id, lock=False))

    def playbook_of(self, incident: Incident) -> Playbook:
        with self.work.read() as conn:
            return self.catalog.pinned(conn, incident.playbook_version)

    def list_incidents(
        self,
        *,
        state: str = OPEN,
        severity: str | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> Page:
        """List incidents, most recently declared first."""
        if state not in (OPEN, RESOLVED, ALL):
            raise ValidationFailed(
                "unknown state filter", details={"state": "use open, resolved or all"}
            )
        page, per_page = max(1, page), min(max(1, per_page), 200)
        q = sa.select(incidents)
        if state == OPEN:
            q = q.where(incidents.c.resolved_at.is_(None))
        elif state == RESOLVED:
            q = q.where(incidents.c.resolved_at.is_not(None))
        if severity:
            q = q.where(incidents.c.severity == severity)
        with self.work.read() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
            rows = conn.execute(
                q.order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
                .limit(per_page)
                .offset((page - 1) * per_page)
            ).all()
        return Page([Incident.from_row(r) for r in rows], page, per_page, int(total))

    def timeline(self, *, incident_id: int, after_seq: int = 0) -> list[Event]:
        """The incident's events in order (those after ``after_seq``)."""
        with self.work.read() as conn:
            incident_row(conn, incident_id, lock=False)
            rows = conn.execute(
                sa.select(events)
                .where(
                    events.c.incident_id == incident_id,
                    events.c.seq > after_seq,
                )
                .order_by(events.c.seq)
            ).all()
        return [event_of(r) for r in rows]

    def listing_details(
        self, items: Sequence[Incident]
    ) -> dict[int, tuple[Playbook, dict[str, Any] | None, list[int]]]:
        """For a page of incidents: each one's playbook, escalation status and freeze ids.

        A fixed number of queries on one connection, however long the page.
        """
        ids = [i.id for i in items]
        t = timer_table.c
        with self.work.read() as conn:
            pending = conn.execute(
                sa.select(t.incident_id, t.due_at, t.payload)
                .where(t.incident_id.in_(ids), t.state == "pending", t.kind == "escalation_step")
                .order_by(t.due_at)
            ).all()
            frozen = conn.execute(
                sa.select(freezes.c.incident_id, freezes.c.id)
                .where(freezes.c.incident_id.in_(ids))
                .order_by(freezes.c.id)
            ).all()
            books = {v: self.catalog.pinned(conn, v) for v in {i.playbook_version for i in items}}
        out: dict[int, tuple[Playbook, dict[str, Any] | None, list[int]]] = {}
        for inc in items:
            status = None
            if inc.ladder_started_at is not None:
                next_at = next(
                    (
                        r.due_at
                        for r in pending
                        if r.incident_id == inc.id
                        and r.payload.get("generation") == inc.ladder_generation
                    ),
                    None,
                )
                active = inc.ladder_stopped_at is None and inc.resolved_at is None
                status = {
                    "step": inc.escalation_step,
                    "next_at": next_at if active else None,
                    "exhausted": inc.escalation_exhausted,
                    "stopped": not active,
                }
            fids = [r.id for r in frozen if r.incident_id == inc.id]
            out[inc.id] = (books[inc.playbook_version], status, fids)
        return out

    def escalation_status(self, incident: Incident) -> dict[str, Any] | None:
        """The ladder's step, next wake-up and whether it is spent (None: no ladder)."""
        return self.listing_details([incident])[incident.id][1]

    def may_acknowledge(self, *, actor: Actor, incident_id: int) -> bool:
        """The one rule for every route (UI, API, SMS, voice): operators, or anyone paged."""
        with self.work.read() as conn:
            return may_acknowledge(conn, actor, incident_id)


def may_acknowledge(conn: Connection, actor: Actor, incident_id: int) -> bool:
    return may(actor.role, Perm.ACKNOWLEDGE) or _was_paged(conn, actor.name, incident_id)


def _was_paged(conn: Connection, username: str, incident_id: int) -> bool:
    d = deliveries.c
    return (
        conn.execute(
            sa.select(d.id)
            .join(users, users.c.id == d.user_id)
            .where(d.incident_id == incident_id, d.kind == "page", users.c.username == username)
            .limit(1)
        ).first()
        is not None
    )
