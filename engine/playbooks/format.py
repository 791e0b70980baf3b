"""The playbook format, described once: these models validate playbooks and publish their JSON
Schema (``crisis playbook schema``; ``schemas/playbook.schema.json``).

They say what may be written where (keys, shapes, names, durations, the closed vocabularies);
what no schema can say — that a state is reachable, a channel configured, a template compiles,
a severity or audience exists — is checked in ``engine.playbooks.checks``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.kernel.roles import GUARD_ROLES
from engine.playbooks.located import (
    Duration,
    Flag,
    Model,
    Name,
    Names,
    Text,
    check_name,
    describe,
    one_of,
    one_or_many,
    shape,
)
from engine.playbooks.playbook import (
    ANY_STATE,
    CAP_CERTAINTY,
    CAP_SEVERITY,
    CAP_URGENCY,
    ON_LIFT,
    PUBLIC_REQUIREMENTS,
    TRIGGER_SOURCES,
)


def _state_or_any(value: Any) -> str:
    return ANY_STATE if value == ANY_STATE else check_name(value)


StateOrAny = Annotated[str, BeforeValidator(_state_or_any)]
Sources = Annotated[
    list[StateOrAny],
    BeforeValidator(one_or_many),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}),
]


def _locale(value: str) -> str:
    if len(value) < 2 or len(value) > 8 or not value.replace("-", "").isalpha():
        raise PydanticCustomError("locale", "expected a locale such as en or fr-BE")
    return value


Locale = Annotated[str, BeforeValidator(_locale)]
# A text, or locale → text (``en``, ``fr-BE``); each is a sandboxed Jinja template.
Localized = Annotated[
    Annotated[Text, Tag("text")] | Annotated[dict[Locale, Text], Tag("mapping")],
    Discriminator(shape),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            ]
        }
    ),
]


def _whole(value: Any, minimum: int) -> int:
    if not (isinstance(value, str) and value.strip().isdigit()) or int(value) < minimum:
        raise PydanticCustomError(
            "whole", f"expected a whole number ≥ {minimum}, got {describe(value)}"
        )
    return int(value)


Count = Annotated[
    int,
    BeforeValidator(lambda v: _whole(v, 0)),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]
Positive = Annotated[
    int,
    BeforeValidator(lambda v: _whole(v, 1)),
    WithJsonSchema({"type": "integer", "minimum": 1}),
]


class TransitionSpec(Model):
    trigger: Name
    source: Sources
    dest: Name
    role: one_of("role", GUARD_ROLES) | None = None  # type: ignore[valid-type]


class TargetSpec(Model):
    """Whom a step pages: the on-call holders of a roster role, or one person."""

    role: Name | None = None
    person: Name | None = None

    @model_validator(mode="after")
    def one_target(self) -> TargetSpec:
        if (self.role is None) == (self.person is None):
            raise PydanticCustomError("target", "expected {role: NAME} or {person: NAME}")
        return self


class StepSpec(Model):
    after: Duration
    notify: list[TargetSpec]
    via: Names


class EscalationSpec(Model):
    steps: list[StepSpec]
    until: Name | None = None
    repeat: Count = 0
    repeat_after: Duration | None = None
    urgent: Names | None = None


class ScopeSpec(Model):
    channels: Names = Field(default_factory=list)
    tags: Names = Field(default_factory=list)
    # names, or ``incident``: the incident's own regions
    regions: Names = Field(default_factory=list)


class FreezeSpec(Model):
    scope: ScopeSpec
    on: Name | None = None
    on_lift: one_of("on_lift", ON_LIFT) = "review"  # type: ignore[valid-type]
    cooldown: Duration | None = None


class AudienceSpec(Model):
    channels: Names
    approval: Name | None = None  # a role, or ``none``
    two_person: Flag = False
    public: Flag | None = None
    fallback: dict[Name, Name] = Field(default_factory=dict)
    approval_expires: Duration | None = None
    backup_approver: Name | None = None
    # the closing template drafted when the incident resolves (``none``: tell nothing);
    # unset: the audience's closing template, else a short default
    resolved: Name | None = None


class TemplateSpec(Model):
    audience: Name
    body: Localized
    preapproved: Names = Field(default_factory=list)
    subject: Localized | None = None
    channels: dict[Name, Localized] = Field(default_factory=dict)
    html: Localized | None = None
    closing: Flag = False


class PolicySpec(Model):
    forbid: list[Text] = Field(default_factory=list)
    public_requires: list[one_of("requirement", PUBLIC_REQUIREMENTS)] = Field(  # type: ignore[valid-type]
        default_factory=list
    )
    max_length: dict[Name, Positive] = Field(default_factory=dict)


class SeverityMapSpec(Model):
    label: Text
    map: dict[str, Name]


class RegionsLabelSpec(Model):
    label: Text


def _label_value(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("label", "expected a label value")
    return value


class TriggerSpec(Model):
    source: one_of("source", TRIGGER_SOURCES)  # type: ignore[valid-type]
    match: dict[str, Annotated[str, BeforeValidator(_label_value)]]
    severity: Annotated[
        Annotated[Name, Tag("text")] | Annotated[SeverityMapSpec, Tag("mapping")],
        Discriminator(shape),
    ]
    regions: RegionsLabelSpec | None = None
    auto_resolve: Flag = False
    draft: Name | None = None


class CapProfileSpec(Model):
    urgency: one_of("urgency", CAP_URGENCY)  # type: ignore[valid-type]
    severity: one_of("severity", CAP_SEVERITY)  # type: ignore[valid-type]
    certainty: one_of("certainty", CAP_CERTAINTY)  # type: ignore[valid-type]


class CadenceSpec(Model):
    """Severity → how often a public update is due; ``remind``: the roles told when it is late."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Duration] = Field(init=False)
    remind: Names | None = None


class CapSpec(Model):
    """Severity → its CAP 1.2 urgency, severity and certainty; ``category``: the CAP category."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, CapProfileSpec] = Field(init=False)
    category: Text = "Infra"


class PlaybookFile(Model):
    """A playbook: its lifecycle, who is paged, what freezes, who hears what, and how."""

    id: Name
    name: Text
    description: str = ""
    severities: dict[Name, Text]
    states: Names
    initial: Name
    final: Names
    transitions: list[TransitionSpec]
    escalation: EscalationSpec | None = None
    # roster roles told when the incident is declared: a notice, apart from the paging ladder
    stakeholders: Names = Field(default_factory=list)
    freeze: FreezeSpec | None = None
    cadence: CadenceSpec = Field(default_factory=lambda: CadenceSpec())
    audiences: dict[Name, AudienceSpec] = Field(default_factory=dict)
    templates: dict[Name, TemplateSpec] = Field(default_factory=dict)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    triggers: list[TriggerSpec] = Field(default_factory=list)
    cap: CapSpec = Field(default_factory=lambda: CapSpec())
