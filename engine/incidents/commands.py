"""Incidents: declare, move through the lifecycle, acknowledge, amend.

Each command is one unit of work (``engine.kernel.uow``): it checks the actor's role itself,
writes the change and its timeline events in one transaction, and re-arms the alarm clock
for whatever it scheduled (ladder steps, cadence reminders, a freeze's posts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.calendar import freezes
from engine.incidents import lifecycle, rules
from engine.incidents.reads import IncidentReads, may_acknowledge
from engine.kernel.errors import Conflict, ValidationFailed
from engine.kernel.journal import append_event
from engine.kernel.models import Actor, Incident
from engine.kernel.records import incident_row, insert_incident, update_incident
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.paging import ladder as paging
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.connectors import Connector
from engine.playbooks.places import Places
from engine.playbooks.playbook import Playbook
from engine.timers import schedule as timers
from engine.updates import closing


class Incidents(IncidentReads):
    """The incident commands (the queries come from ``IncidentReads``)."""

    def __init__(
        self,
        work: Work,
        *,
        catalog: Catalog,
        places: Places,
        channels: Mapping[str, Channel],
        connectors: Mapping[str, Connector] | None = None,
    ) -> None:
        super().__init__(work, catalog=catalog)
        self.places = places
        self.channels = channels
        # The playbook's freeze for an incident (once), in the caller's transaction.
        self._freeze = partial(
            freezes.playbook_freeze,
            channels=channels,
            stamp=work.clock.now,
            connectors=connectors or {},
        )

    def declare(
        self,
        *,
        actor: Actor,
        playbook: str,
        severity: str,
        title: str,
        regions: Sequence[str] = (),
        services: Sequence[str] = (),
        summary: str = "",
    ) -> Incident:
        """Declare an incident under the current version of ``playbook``."""
        require(actor, Perm.DECLARE, "declare incidents")
        pb = self.catalog.current(playbook)
        title, regions, services = rules.check_declaration(
            pb, severity, title, regions, services, places=self.places, summary=summary
        )
        now = self.work.now()
        with self.work.transaction(rearm=True) as conn:
            incident_id = self.declare_in(
                conn,
                pb,
                actor=actor,
                severity=severity,
                title=title,
                regions=regions,
                services=services,
                summary=summary,
                now=now,
            )
            inc = Incident.from_row(incident_row(conn, incident_id, lock=False))
        return inc

    def declare_in(
        self,
        conn: Connection,
        pb: Playbook,
        *,
        actor: Actor,
        severity: str,
        title: str,
        regions: Sequence[str],
        services: Sequence[str],
        summary: str,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Insert a validated incident: timeline, ladder, freeze and cadence, in ``conn``."""
        self.catalog.record(conn, pb, now=now)
        incident_id = insert_incident(
            conn,
            playbook_id=pb.id,
            playbook_version=pb.version,
            title=title,
            severity=severity,
            state=pb.initial,
            regions=list(regions),
            services=list(services),
            summary=summary,
            declared_by=actor.name,
            declared_at=now,
            updated_at=now,
        )
        row = incident_row(conn, incident_id, lock=False)
        told = paging.tell_stakeholders(
            conn, pb, row, actor=actor.name, channels=dict(self.channels), now=now
        )
        append_event(
            conn,
            incident_id=incident_id,
            type="declared",
            actor=actor.name,
            at=now,
            data={
                "playbook": pb.id,
                "version": pb.version,
                "severity": severity,
                "title": title,
                "regions": list(regions),
                "services": list(services),
                "state": pb.initial,
                **({"stakeholders": told} if told else {}),
                **(data or {}),
            },
        )
        paging.start_ladder(conn, pb, incident_id=incident_id, generation=1, now=now)
        if pb.freeze is not None and pb.freeze.on == pb.initial:
            self._freeze(
                conn, pb, incident_id=incident_id, regions=regions, actor=actor.name, now=now
            )
        paging.plan_cadence(
            conn, pb, incident_id=incident_id, severity=severity, since=now, now=now
        )
        return incident_id

    def fire(
        self,
        *,
        actor: Actor,
        incident_id: int,
        trigger: str,
        note: str | None = None,
    ) -> Incident:
        """Move an incident through its playbook's lifecycle with ``trigger``."""
        require(actor, Perm.TRANSITION, "move incidents between states")
        now = self.work.now()
        with self.work.transaction(rearm=True) as conn:
            row = incident_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            self.apply(conn, pb, row, actor=actor, trigger=trigger, note=note, now=now)
            inc = Incident.from_row(incident_row(conn, incident_id, lock=False))
        return inc

    def acknowledge(self, *, actor: Actor, incident_id: int, via: str = "api") -> Incident:
        """Take ownership of an incident; fires the ladder's stop trigger where it applies.

        Operators may acknowledge any incident; anyone the incident paged may acknowledge it
        (by replying to the page, pressing 1 on the call, or from the UI).
        """
        now = self.work.now()
        with self.work.transaction() as conn:
            if not may_acknowledge(conn, actor, incident_id):
                require(actor, Perm.ACKNOWLEDGE, "acknowledge incidents")
            row = incident_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            if row.owner is not None:
                if row.owner == actor.name:
                    return Incident.from_row(row)
                raise Conflict(f"INC-{row.id} is already acknowledged by {row.owner}")
            if row.state in pb.final:
                raise Conflict(f"INC-{row.id} is already {row.state}")
            update_incident(conn, row.id, owner=actor.name, acknowledged_at=now, updated_at=now)
            append_event(
                conn,
                incident_id=row.id,
                type="acknowledged",
                actor=actor.name,
                at=now,
                data={"via": via},
            )
            paging.stop_ladder(conn, incident_id=row.id, now=now)
            until = pb.escalation.until if pb.escalation else "acknowledge"
            if until in pb.allowed_triggers(row.state):
                row = incident_row(conn, incident_id, lock=False)
                self.apply(conn, pb, row, actor=actor, trigger=until, note=None, now=now)
            return Incident.from_row(incident_row(conn, incident_id, lock=False))

    def amend(
        self,
        *,
        actor: Actor,
        incident_id: int,
        severity: str | None = None,
        title: str | None = None,
        regions: Sequence[str] | None = None,
        summary: str | None = None,
    ) -> Incident:
        """Change an incident's severity, title, regions or summary."""
        require(actor, Perm.TRANSITION, "change incidents")
        now = self.work.now()
        with self.work.transaction(rearm=True) as conn:
            row = incident_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            problems: dict[str, str] = {}
            changes: dict[str, Any] = {}
            if severity is not None and severity != row.severity:
                rules.check_severity(pb, severity, problems)
                changes["severity"] = severity
            if title is not None:
                title = rules.clean_title(title, problems)
                if "title" not in problems and title != row.title:
                    changes["title"] = title
            if regions is not None:
                cleaned = rules.clean_list(self.places, "regions", regions, problems)
                if list(cleaned) != list(row.regions):
                    changes["regions"] = list(cleaned)
            if summary is not None:
                rules.check_summary(summary, problems)
                if "summary" not in problems and summary != row.summary:
                    changes["summary"] = summary
            if problems:
                raise ValidationFailed("the incident could not be changed", details=problems)
            if changes:
                update_incident(conn, row.id, updated_at=now, **changes)
                before = {k: rules.json_value(getattr(row, k)) for k in changes}
                append_event(
                    conn,
                    incident_id=row.id,
                    type="amended",
                    actor=actor.name,
                    at=now,
                    data={"before": before, "after": changes},
                )
            if "severity" in changes and row.resolved_at is None:
                if paging.replan_ladder(conn, pb, row, now=now):
                    append_event(
                        conn,
                        incident_id=row.id,
                        type="escalation_replanned",
                        actor=actor.name,
                        at=now,
                        data={"severity": changes["severity"]},
                    )
                paging.plan_cadence(
                    conn,
                    pb,
                    incident_id=row.id,
                    severity=changes["severity"],
                    since=row.last_public_update_at or row.declared_at,
                    now=now,
                )
            inc = Incident.from_row(incident_row(conn, incident_id, lock=False))
        return inc

    def apply(
        self,
        conn: Connection,
        pb: Playbook,
        row: Row[Any],
        *,
        actor: Actor,
        trigger: str,
        note: str | None,
        now: datetime,
    ) -> None:
        dest, guard = lifecycle.next_state(pb, state=row.state, trigger=trigger, role=actor.role)
        values: dict[str, Any] = {"state": dest, "updated_at": now}
        if dest in pb.final:
            values["resolved_at"] = now
        update_incident(conn, row.id, **values)
        data: dict[str, Any] = {"trigger": trigger, "from": row.state, "to": dest}
        if guard:
            data["guard"] = guard
        if note:
            data["note"] = note
        append_event(
            conn, incident_id=row.id, type="transitioned", actor=actor.name, at=now, data=data
        )
        if pb.freeze is not None and pb.freeze.on == dest and dest != row.state:
            self._freeze(
                conn, pb, incident_id=row.id, regions=row.regions, actor=actor.name, now=now
            )
        until = pb.escalation.until if pb.escalation else None
        if trigger == until or dest in pb.final:
            paging.stop_ladder(conn, incident_id=row.id, now=now)
        if dest in pb.final:
            timers.cancel_pending(conn, incident_id=row.id, kinds=paging.CADENCE_KINDS)
            update_incident(conn, row.id, next_update_due_at=None)
            append_event(
                conn,
                incident_id=row.id,
                type="resolved",
                actor=actor.name,
                at=now,
                data={"state": dest},
            )
            closing.withdraw_open(conn, pb, row, actor=actor.name, channels=self.channels, now=now)
            closing.announce_resolution(conn, pb, row, state=dest, actor=actor.name, now=now)
            closing.close_out(  # drafted by the playbook: the resolver may approve it
                conn,
                pb,
                incident_row(conn, row.id, lock=False),
                actor="playbook",
                role=actor.role,
                channels=self.channels,
                now=now,
                places=self.places,
            )

    def record_public_update(self, *, incident_id: int, at: datetime | None = None) -> Incident:
        """A public update went out: reset the cadence clock from ``at``."""
        now = self.work.now()
        at = at or now
        with self.work.transaction(rearm=True) as conn:
            row = incident_row(conn, incident_id, lock=True)
            pb = self.catalog.pinned(conn, row.playbook_version)
            paging.note_public_update(conn, pb, row, at=at, now=now)
            inc = Incident.from_row(incident_row(conn, incident_id, lock=False))
        return inc
