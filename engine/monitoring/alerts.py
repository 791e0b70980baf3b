"""Monitoring alerts → incidents: match playbook triggers, deduplicate, note resolution.

Alertmanager (and Grafana, which sends the same shape) group alerts and resend a group's
notification on every ``group_interval`` and ``repeat_interval``; an HA pair sends each one
twice. An alert instance is (source, fingerprint, startsAt): seen twice, it is a duplicate.
A new alert in a group whose incident is still open joins that incident instead of declaring
another. The group row is locked while this is decided, so concurrent notifications of one
group declare at most one incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.records import find_incident
from engine.monitoring._tables import monitor_alerts, monitor_groups
from engine.playbooks.playbook import MonitoringTrigger, Playbook
from engine.store.queries import insert_ignore


@dataclass(frozen=True)
class AlertIn:
    """One alert of a notification, as the hook parsed it."""

    status: str  # firing | resolved
    labels: Mapping[str, str]
    fingerprint: str
    starts_at: str
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    playbook: Playbook
    trigger: MonitoringTrigger
    severity: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one alert did: declared, joined, duplicate, resolved, unmatched or ignored."""

    fingerprint: str
    action: str
    incident_id: int | None = None
    playbook: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def match(playbooks: Sequence[Playbook], *, source: str, labels: Mapping[str, str]) -> Match | str:
    """The first playbook trigger (playbooks by id) whose labels all match; else why not."""
    near: str | None = None
    for pb in sorted(playbooks, key=lambda p: p.id):
        for t in pb.triggers:
            if t.source != source or any(labels.get(k) != v for k, v in t.match.items()):
                continue
            severity = t.severity
            if severity is None and t.severity_label is not None:
                severity = t.severity_map.get(labels.get(t.severity_label, ""))
            if severity is None:
                near = (
                    f"{pb.id}: label {t.severity_label}={labels.get(t.severity_label or '')!r} "
                    f"maps to no severity (known: {', '.join(t.severity_map)})"
                )
                continue
            regions: tuple[str, ...] = ()
            if t.regions_label and labels.get(t.regions_label):
                regions = tuple(r.strip() for r in labels[t.regions_label].split(",") if r.strip())
            return Match(pb, t, severity, regions)
    return near or f"no {source} trigger in any playbook matches these labels"


def title_of(alert: AlertIn) -> str:
    """A title for the incident: the alert's summary, or its name and distinguishing labels."""
    summary = alert.annotations.get("summary") or alert.annotations.get("title")
    if summary:
        return summary
    name = alert.labels.get("alertname", "Monitoring alert")
    extra = [f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity")]
    return f"{name} ({', '.join(extra[:3])})" if extra else name


def seen(conn: Connection, source: str, alert: AlertIn) -> Row[Any] | None:
    return conn.execute(
        sa.select(monitor_alerts).where(
            monitor_alerts.c.source == source,
            monitor_alerts.c.fingerprint == alert.fingerprint,
            monitor_alerts.c.starts_at == alert.starts_at,
        )
    ).first()


def lock_group(conn: Connection, source: str, group_key: str, now: datetime) -> Row[Any]:
    """The group's row, created if new and locked until the transaction ends."""
    insert_ignore(conn, monitor_groups, source=source, group_key=group_key, updated_at=now)
    q = sa.select(monitor_groups).where(
        monitor_groups.c.source == source, monitor_groups.c.group_key == group_key
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    return conn.execute(q).one()


def open_incident_of(conn: Connection, group: Row[Any], playbook_id: str) -> int | None:
    """The group's incident if it is still open and runs the same playbook."""
    if group.incident_id is None:
        return None
    row = find_incident(conn, group.incident_id, lock=False)
    if row is None or row.resolved_at is not None or row.playbook_id != playbook_id:
        return None
    return int(row.id)


def record(
    conn: Connection,
    *,
    source: str,
    group_key: str,
    alert: AlertIn,
    incident_id: int,
    now: datetime,
) -> None:
    conn.execute(
        monitor_alerts.insert().values(
            source=source,
            fingerprint=alert.fingerprint,
            starts_at=alert.starts_at,
            group_key=group_key,
            incident_id=incident_id,
            labels=dict(alert.labels),
            status="firing",
            first_seen=now,
            last_seen=now,
        )
    )


def bind_group(conn: Connection, group: Row[Any], incident_id: int, now: datetime) -> None:
    conn.execute(
        monitor_groups.update()
        .where(monitor_groups.c.id == group.id)
        .values(incident_id=incident_id, updated_at=now)
    )


def touch(conn: Connection, row: Row[Any], now: datetime) -> None:
    conn.execute(monitor_alerts.update().where(monitor_alerts.c.id == row.id).values(last_seen=now))


def mark_resolved(conn: Connection, row: Row[Any], now: datetime) -> bool:
    """Mark an alert resolved; False if it already was."""
    result = conn.execute(
        monitor_alerts.update()
        .where(monitor_alerts.c.id == row.id, monitor_alerts.c.status == "firing")
        .values(status="resolved", resolved_at=now, last_seen=now)
    )
    return bool(result.rowcount)


def still_firing(conn: Connection, incident_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(monitor_alerts)
            .where(monitor_alerts.c.incident_id == incident_id, monitor_alerts.c.status == "firing")
        ).scalar_one()
    )


def resolving_trigger(pb: Playbook, state: str) -> str | None:
    """The trigger from ``state`` to a state named ``resolved``, else to a final state."""
    here = [t for t in pb.transitions if state in t.sources or "*" in t.sources]
    for t in sorted(here, key=lambda t: t.dest != "resolved"):
        if t.dest == "resolved" or t.dest in pb.final:
            return t.trigger
    return None
