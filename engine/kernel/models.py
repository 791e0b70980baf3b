"""Plain records the engine hands out: incidents, timeline events, users, actors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who is doing something: a user (or a machine identity) and the role it acts with."""

    name: str
    role: str


@dataclass(frozen=True)
class Incident:
    id: int
    playbook_id: str
    playbook_version: str
    title: str
    severity: str
    state: str
    regions: tuple[str, ...]
    services: tuple[str, ...]
    summary: str
    declared_by: str
    declared_at: datetime
    updated_at: datetime
    owner: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    last_public_update_at: datetime | None = None
    next_update_due_at: datetime | None = None

    @classmethod
    def from_row(cls, r: Any) -> Incident:
        """Read an ``incidents`` row (or anything with its columns as attributes)."""
        return cls(
            id=r.id,
            playbook_id=r.playbook_id,
            playbook_version=r.playbook_version,
            title=r.title,
            severity=r.severity,
            state=r.state,
            regions=tuple(r.regions or ()),
            services=tuple(r.services or ()),
            summary=r.summary or "",
            declared_by=r.declared_by,
            declared_at=r.declared_at,
            updated_at=r.updated_at,
            owner=r.owner,
            acknowledged_at=r.acknowledged_at,
            resolved_at=r.resolved_at,
            last_public_update_at=r.last_public_update_at,
            next_update_due_at=r.next_update_due_at,
        )

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    def template_vars(
        self,
        *,
        regions: Mapping[str, str] | None = None,
        services: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``incident`` variable message templates see: regions and services by the names
        people know them by ("Calais", given ``regions``), their ids as ``region_ids`` and
        ``service_ids``."""
        regions, services = regions or {}, services or {}
        return {
            "id": self.id,
            "ref": self.ref,
            "title": self.title,
            "severity": self.severity,
            "state": self.state,
            "regions": [regions.get(r, r) for r in self.regions],
            "services": [services.get(s, s) for s in self.services],
            "region_ids": list(self.regions),
            "service_ids": list(self.services),
            "summary": self.summary,
            "declared_at": self.declared_at,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class Event:
    incident_id: int
    seq: int
    type: str
    actor: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    name: str
    role: str
    email: str | None = None
    phone: str | None = None
    timezone: str = "UTC"
    active: bool = True
    session_version: int = 0  # bumped to end every session of the user

    def as_actor(self) -> Actor:
        return Actor(self.username, self.role)
