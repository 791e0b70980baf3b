"""Monitoring: apply the alerts a notification carries (declare, join, deduplicate, resolve)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.incidents import rules
from engine.incidents.commands import Incidents
from engine.kernel.journal import append_event
from engine.kernel.models import Actor
from engine.kernel.records import incident_row
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.monitoring import alerts as monitoring
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.places import Places
from engine.updates import flow as update_flow


class Monitoring:
    def __init__(
        self,
        work: Work,
        *,
        catalog: Catalog,
        places: Places,
        channels: Mapping[str, Channel],
        incidents: Incidents,
    ) -> None:
        self.work = work
        self.catalog = catalog
        self.places = places
        self.channels = channels
        self.incidents = incidents

    def ingest(
        self,
        *,
        actor: Actor,
        source: str,
        group_key: str,
        alerts: Sequence[monitoring.AlertIn],
    ) -> list[monitoring.Outcome]:
        """Apply one monitoring notification: declare, join, deduplicate or note resolution.

        A declaration freezes promos, starts escalation and drafts the trigger's template
        (held for a person, never sent). A resolved alert adds a timeline event; when the last
        alert of an incident resolves, people are offered "resolve", and the playbook resolves
        it only where the trigger says ``auto_resolve: true``.
        """
        require(actor, Perm.MONITORING_HOOK, "post monitoring alerts")
        now = self.work.now()
        out: list[monitoring.Outcome] = []
        with self.work.transaction(rearm=True) as conn:
            for alert in alerts:
                out.append(self._ingest_one(conn, actor, source, group_key, alert, now))
        return out

    def _ingest_one(
        self,
        conn: Connection,
        actor: Actor,
        source: str,
        group_key: str,
        alert: monitoring.AlertIn,
        now: datetime,
    ) -> monitoring.Outcome:
        fp = alert.fingerprint
        if alert.status == "resolved":
            row = monitoring.seen(conn, source, alert)
            if row is None:
                return monitoring.Outcome(fp, "ignored", reason="resolved alert never seen firing")
            if monitoring.mark_resolved(conn, row, now):
                self._alert_resolved(conn, actor, row, now)
            return monitoring.Outcome(fp, "resolved", row.incident_id)
        found = monitoring.match(self.catalog.all(), source=source, labels=alert.labels)
        if isinstance(found, str):
            return monitoring.Outcome(fp, "unmatched", reason=found)
        pb = found.playbook
        group = monitoring.lock_group(conn, source, group_key, now)
        row = monitoring.seen(conn, source, alert)
        if row is not None:
            monitoring.touch(conn, row, now)
            return monitoring.Outcome(fp, "duplicate", row.incident_id, pb.id)
        incident_id = monitoring.open_incident_of(conn, group, pb.id)
        if incident_id is not None:
            monitoring.record(
                conn,
                source=source,
                group_key=group_key,
                alert=alert,
                incident_id=incident_id,
                now=now,
            )
            append_event(
                conn,
                incident_id=incident_id,
                type="alert_joined",
                actor=actor.name,
                at=now,
                data={"source": source, "fingerprint": fp, "labels": dict(alert.labels)},
            )
            return monitoring.Outcome(fp, "joined", incident_id, pb.id)
        # An alert label naming no known region must not stop the declaration (nor narrow the
        # freeze): the unknown names are recorded, and with none known the freeze is global.
        known, unknown = self.places.resolve("regions", found.regions)
        title, regions, services = rules.check_declaration(
            pb,
            found.severity,
            monitoring.title_of(alert)[: rules.MAX_TITLE],
            known,
            (),
            places=self.places,
        )
        incident_id = self.incidents.declare_in(
            conn,
            pb,
            actor=actor,
            severity=found.severity,
            title=title,
            regions=regions,
            services=services,
            summary=alert.annotations.get("description", "")[: rules.MAX_SUMMARY],
            now=now,
            data={"source": source, "fingerprint": fp, "labels": dict(alert.labels)}
            | ({"unknown_regions": unknown} if unknown else {}),
        )
        monitoring.record(
            conn, source=source, group_key=group_key, alert=alert, incident_id=incident_id, now=now
        )
        monitoring.bind_group(conn, group, incident_id, now)
        template = found.trigger.draft
        if template is not None:
            update_flow.draft(
                conn,
                pb,
                incident_row(conn, incident_id, lock=True),
                actor=actor.name,
                audience=pb.templates[template].audience,
                template=template,
                body=None,
                locale=next(iter(pb.templates[template].body), "en"),
                channels=self.channels,
                now=now,
                hold=True,
                places=self.places,
            )
        return monitoring.Outcome(fp, "declared", incident_id, pb.id)

    def _alert_resolved(
        self, conn: Connection, actor: Actor, alert: Row[Any], now: datetime
    ) -> None:
        """Note a resolved alert; when none of the incident's alerts fire, offer resolution."""
        inc = incident_row(conn, alert.incident_id, lock=True)
        append_event(
            conn,
            incident_id=inc.id,
            type="alert_resolved",
            actor=actor.name,
            at=now,
            data={"source": alert.source, "fingerprint": alert.fingerprint},
        )
        if inc.resolved_at is not None or monitoring.still_firing(conn, inc.id):
            return
        pb = self.catalog.pinned(conn, inc.playbook_version)
        trigger = monitoring.resolving_trigger(pb, inc.state)
        matched = monitoring.match([pb], source=alert.source, labels=alert.labels)
        auto = isinstance(matched, monitoring.Match) and matched.trigger.auto_resolve
        append_event(
            conn,
            incident_id=inc.id,
            type="monitoring_resolved",
            actor=actor.name,
            at=now,
            data={"offer": trigger, "auto_resolve": auto},
        )
        if auto and trigger is not None:
            guard = next((t.role for t in pb.transitions if t.trigger == trigger), None)
            # The playbook's auto_resolve grants the transition's own guard to monitoring.
            by = Actor(f"{actor.name} (auto_resolve)", guard or "operator")
            self.incidents.apply(
                conn, pb, inc, actor=by, trigger=trigger, note="all alerts resolved", now=now
            )
