"""A playbook as the engine sees it: frozen dataclasses, and the format's vocabularies.

Playbooks are read by ``engine.playbooks.loading`` (format: ``format``, checks: ``checks``).
A playbook's version is the SHA-256 of its text. Incidents pin the version they were
declared under (the text is stored with them), so editing a file never changes a running
incident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

ANY_STATE = "*"
ON_LIFT = ("review", "resume", "discard")
TRIGGER_SOURCES = ("alertmanager", "webhook", "grafana")
PUBLIC_REQUIREMENTS = ("next_update", "time_zone")  # a next update; every time says its zone
CAP_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
CAP_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CAP_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
DEFAULT_LOCALE = "en"


# The roster role told when nobody else is named (cadence reminders, approvals waiting).
COMMS_LEAD_ROLE = "comms-lead"


@dataclass(frozen=True)
class Transition:
    trigger: str
    sources: tuple[str, ...]  # ("*",) means any non-final state
    dest: str
    role: str | None = None


@dataclass(frozen=True)
class Target:
    """Who a step notifies: everyone holding a roster role, or one named person."""

    kind: Literal["role", "person"]
    name: str


@dataclass(frozen=True)
class EscalationStep:
    after: timedelta
    notify: tuple[Target, ...]
    via: tuple[str, ...]


@dataclass(frozen=True)
class Escalation:
    until: str
    repeat: int
    steps: tuple[EscalationStep, ...]
    repeat_after: timedelta | None = None  # length of one round; None: derived from the steps
    urgent: tuple[str, ...] | None = None  # severities that ignore quiet hours; None: all


@dataclass(frozen=True)
class FreezeScope:
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    incident_regions: bool = False  # ``regions: incident``: take the incident's regions


@dataclass(frozen=True)
class FreezeRule:
    on: str
    scope: FreezeScope
    on_lift: str = "review"
    cooldown: timedelta = timedelta(0)


@dataclass(frozen=True)
class Audience:
    name: str
    channels: tuple[str, ...]
    approval: str | None  # None: no approval; otherwise the role that approves
    two_person: bool = False
    public: bool = False
    fallback: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    approval_expires: timedelta | None = None
    backup_approver: str | None = None


@dataclass(frozen=True)
class Template:
    name: str
    audience: str
    body: Mapping[str, str]  # locale → text
    preapproved: tuple[str, ...] = ()
    subject: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    channels: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # channel → locale → text
    html: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # email HTML
    closing: bool = False  # a closing update: may be drafted and approved after resolution


@dataclass(frozen=True)
class Policy:
    forbid: tuple[Any, ...] = ()  # linear-time (RE2) patterns
    public_requires: tuple[str, ...] = ()
    max_length: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MonitoringTrigger:
    source: str
    match: Mapping[str, str]
    severity: str | None = None  # a fixed severity
    severity_label: str | None = None
    severity_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    regions_label: str | None = None
    auto_resolve: bool = False
    draft: str | None = None  # template drafted (never sent) when this trigger declares


@dataclass(frozen=True)
class CapProfile:
    urgency: str
    severity: str
    certainty: str


@dataclass(frozen=True)
class Playbook:
    """One validated version of a playbook."""

    id: str
    name: str
    version: str
    source: str
    text: str
    severities: Mapping[str, str]
    states: tuple[str, ...]
    initial: str
    final: tuple[str, ...]
    transitions: tuple[Transition, ...]
    description: str = ""
    escalation: Escalation | None = None
    freeze: FreezeRule | None = None
    cadence: Mapping[str, timedelta] = field(default_factory=lambda: MappingProxyType({}))
    cadence_remind: tuple[str, ...] = (COMMS_LEAD_ROLE,)
    audiences: Mapping[str, Audience] = field(default_factory=lambda: MappingProxyType({}))
    templates: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    policy: Policy = field(default_factory=Policy)
    triggers: tuple[MonitoringTrigger, ...] = ()
    cap: Mapping[str, CapProfile] = field(default_factory=lambda: MappingProxyType({}))
    cap_category: str = "Infra"
    stakeholders: tuple[str, ...] = ()  # roster roles told (not paged) on declaration
    # audience → the closing template drafted for it when the incident resolves
    resolved: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def short_version(self) -> str:
        return self.version[:12]

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        """The transitions whose source includes ``state``."""
        if state in self.final:
            return ()
        return tuple(t for t in self.transitions if state in t.sources or ANY_STATE in t.sources)

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions_from(state)))


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
