"""Incidents, read: one incident, a page of them with what the list shows, the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from engine.accounts import people
from engine.calendar import freezes
from engine.delivery import ledger
from engine.kernel.errors import ValidationFailed
from engine.kernel.journal import events_after
from engine.kernel.models import Actor, Event, Incident
from engine.kernel.records import event_of, incident_page, incident_row
from engine.kernel.roles import Perm, may
from engine.kernel.uow import Work
from engine.paging import state as ladders
from engine.playbooks.catalog import Catalog
from engine.playbooks.playbook import Playbook

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
        resolved = {OPEN: False, RESOLVED: True, ALL: None}[state]
        with self.work.read() as conn:
            rows, total = incident_page(
                conn,
                resolved=resolved,
                severity=severity,
                limit=per_page,
                offset=(page - 1) * per_page,
            )
        return Page([Incident.from_row(r) for r in rows], page, per_page, int(total))

    def timeline(self, *, incident_id: int, after_seq: int = 0) -> list[Event]:
        """The incident's events in order (those after ``after_seq``)."""
        with self.work.read() as conn:
            incident_row(conn, incident_id, lock=False)
            rows = events_after(conn, incident_id, after_seq)
        return [event_of(r) for r in rows]

    def listing_details(
        self, items: Sequence[Incident]
    ) -> dict[int, tuple[Playbook, dict[str, Any] | None, list[int]]]:
        """For a page of incidents: each one's playbook, escalation status and freeze ids.

        A fixed number of queries on one connection, however long the page.
        """
        ids = [i.id for i in items]
        with self.work.read() as conn:
            status = ladders.statuses(conn, [(i.id, i.resolved_at) for i in items])
            frozen = freezes.freeze_ids_of(conn, ids)
            books = {v: self.catalog.pinned(conn, v) for v in {i.playbook_version for i in items}}
        return {
            i.id: (books[i.playbook_version], status[i.id], frozen.get(i.id, [])) for i in items
        }

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
    uid = people.user_id(conn, username)
    return uid is not None and ledger.was_paged(conn, incident_id=incident_id, user_id=uid)
