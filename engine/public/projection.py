"""What the public sees: the status page's read model, built only from published entries.

Entries are written by the status_page channel when a public update is delivered, and by
``record_resolution`` (called by updates.closing) when an incident that was public is
resolved. Drafts, rejected and expired updates never become entries, so nothing here can show
them. Each entry keeps the incident's severity, state, regions and services as they were when
it was published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel.records import pinned_versions
from engine.playbooks import places
from engine.playbooks.playbook import Playbook
from engine.public._tables import status_entries

RESOLVED_TEXT = "This incident has been resolved."
HISTORY_DAYS = 90

# Statuspage's vocabulary, so tools that read Statuspage understand us.
COMPONENT_STATUS = ("major_outage", "partial_outage", "degraded_performance")
IMPACT = ("critical", "major", "minor")
STATUS_OF_STATE = {"resolved": "resolved", "monitoring": "monitoring", "identified": "identified"}


@dataclass(frozen=True)
class Entry:
    id: int
    incident_id: int
    update_id: int | None
    kind: str  # update | resolved
    title: str
    body: str
    published_at: datetime
    severity: str
    state: str
    regions: tuple[str, ...]
    services: tuple[str, ...]

    @property
    def status(self) -> str:
        """Statuspage's words for the state at publication: investigating … resolved."""
        if self.kind == "resolved":
            return "resolved"
        return STATUS_OF_STATE.get(self.state, "investigating")


@dataclass(frozen=True)
class PublicIncident:
    """An incident as published: its entries oldest first and the rank of its severity."""

    id: int
    ref: str
    entries: tuple[Entry, ...]
    rank: int  # 0 is the playbook's worst severity

    @property
    def latest(self) -> Entry:
        return self.entries[-1]

    @property
    def title(self) -> str:
        return self.latest.title

    @property
    def started_at(self) -> datetime:
        return self.entries[0].published_at

    @property
    def resolved(self) -> bool:
        return self.latest.kind == "resolved"

    @property
    def resolved_at(self) -> datetime | None:
        return self.latest.published_at if self.resolved else None

    @property
    def status(self) -> str:
        """Statuspage's incident status: investigating, identified, monitoring, resolved."""
        return self.latest.status

    @property
    def impact(self) -> str:
        return IMPACT[min(self.rank, len(IMPACT) - 1)]

    @property
    def regions(self) -> tuple[str, ...]:
        return self.latest.regions

    @property
    def services(self) -> tuple[str, ...]:
        return self.latest.services


@dataclass(frozen=True)
class Component:
    """A region or service the page lists, with the names incidents use for it."""

    id: str
    name: str
    regions: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    description: str = ""

    def affected_by(self, inc: PublicIncident) -> bool:
        return bool(set(self.regions) & set(inc.regions) or set(self.services) & set(inc.services))


@dataclass(frozen=True)
class ComponentView:
    component: Component
    status: str  # operational or one of COMPONENT_STATUS
    days: tuple[tuple[date, str], ...] = field(default=())  # worst status per day, oldest first


def component_status(component: Component, open_incidents: Sequence[PublicIncident]) -> str:
    """The worst status any open incident gives the component; operational if none."""
    ranks = [inc.rank for inc in open_incidents if component.affected_by(inc)]
    if not ranks:
        return "operational"
    return COMPONENT_STATUS[min(min(ranks), len(COMPONENT_STATUS) - 1)]


def day_strip(
    component: Component, incidents_: Sequence[PublicIncident], *, today: date, days: int
) -> tuple[tuple[date, str], ...]:
    """For each of the last ``days`` days, the worst status an incident gave the component."""
    worst: dict[date, int] = {}
    for inc in incidents_:
        if not component.affected_by(inc):
            continue
        first = inc.started_at.date()
        last = inc.resolved_at.date() if inc.resolved_at else today
        d = first
        while d <= last:
            worst[d] = min(worst.get(d, inc.rank), inc.rank)
            d += timedelta(days=1)
    out = []
    for i in range(days - 1, -1, -1):
        d = today - timedelta(days=i)
        rank = worst.get(d)
        out.append(
            (d, "operational" if rank is None else COMPONENT_STATUS[min(rank, 2)]),
        )
    return tuple(out)


def _entry(r: Row[Any]) -> Entry:
    return Entry(
        id=r.id,
        incident_id=r.incident_id,
        update_id=r.update_id,
        kind=r.kind,
        title=r.title or "",
        body=r.body,
        published_at=r.published_at,
        severity=r.severity or "",
        state=r.state or "",
        regions=tuple(r.regions or ()),
        services=tuple(r.services or ()),
    )


def load_incidents(
    conn: Connection,
    *,
    since: datetime,
    playbook_of: Callable[[Connection, str], Playbook],
) -> list[PublicIncident]:
    """Every incident with an entry published since ``since``, with all its entries.

    Newest activity first.
    """
    recent = (
        sa.select(status_entries.c.incident_id)
        .where(status_entries.c.published_at >= since, status_entries.c.incident_id.is_not(None))
        .distinct()
    )
    rows = conn.execute(
        sa.select(status_entries)
        .where(status_entries.c.incident_id.in_(recent))
        .order_by(status_entries.c.incident_id, status_entries.c.id)
    ).all()
    grouped: dict[int, list[Row[Any]]] = {}
    for r in rows:
        grouped.setdefault(r.incident_id, []).append(r)
    versions = pinned_versions(conn, grouped)
    out = []
    for incident_id, group in grouped.items():
        entries = tuple(_entry(r) for r in group)
        pb = playbook_of(conn, versions[incident_id])
        sevs = list(pb.severities)
        sev = entries[-1].severity
        out.append(
            PublicIncident(
                id=incident_id,
                ref=f"INC-{incident_id}",
                entries=entries,
                rank=sevs.index(sev) if sev in sevs else len(sevs),
            )
        )
    out.sort(key=lambda i: i.latest.published_at, reverse=True)
    return out


def load_entry(conn: Connection, *, update_id: int) -> tuple[Entry, Entry | None] | None:
    """The entry of one published update, and the entry published before it (for CAP)."""
    row = conn.execute(
        sa.select(status_entries).where(status_entries.c.update_id == update_id)
    ).first()
    if row is None:
        return None
    prev = conn.execute(
        sa.select(status_entries)
        .where(status_entries.c.incident_id == row.incident_id, status_entries.c.id < row.id)
        .order_by(status_entries.c.id.desc())
        .limit(1)
    ).first()
    return _entry(row), (_entry(prev) if prev is not None else None)


def version(conn: Connection) -> tuple[int, int]:
    """A cheap fingerprint of everything published: (newest entry id, number of entries)."""
    row = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(status_entries.c.id), 0), sa.func.count())
    ).one()
    return int(row[0]), int(row[1])


def was_public(conn: Connection, incident_id: int) -> bool:
    return (
        conn.execute(
            sa.select(status_entries.c.id)
            .where(status_entries.c.incident_id == incident_id)
            .limit(1)
        ).first()
        is not None
    )


def record_resolution(
    conn: Connection, inc: Row[Any], *, update_id: int, text: str, state: str, now: datetime
) -> None:
    """The status page's entry saying a public incident is resolved (the update ``update_id``
    holds its text and CAP document)."""
    conn.execute(
        status_entries.insert().values(
            incident_id=inc.id,
            update_id=update_id,
            kind="resolved",
            title=inc.title,
            body=text,
            published_at=now,
            severity=inc.severity,
            state=state,
            regions=list(inc.regions),
            services=list(inc.services),
        )
    )


def parse_components(data: Any, *, where: str) -> list[Component]:
    """Components from the status page's configuration (a list of mappings)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{where}: components must be a list")
    out = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        if not isinstance(item, Mapping) or "name" not in item:
            raise ValueError(f"{where}: components[{i}] needs a name")
        unknown = set(item) - {"id", "name", "regions", "services", "description"}
        if unknown:
            raise ValueError(f"{where}: components[{i}]: unknown keys {sorted(unknown)}")
        cid = str(item.get("id") or item["name"]).strip().lower().replace(" ", "-")
        if cid in seen:
            raise ValueError(f"{where}: components[{i}]: duplicate id {cid!r}")
        seen.add(cid)
        regions = tuple(places.key(str(r)) for r in item.get("regions") or ())
        services = tuple(places.key(str(s)) for s in item.get("services") or ())
        if not regions and not services:
            raise ValueError(f"{where}: components[{i}] needs regions or services")
        out.append(
            Component(cid, str(item["name"]), regions, services, str(item.get("description", "")))
        )
    return out
