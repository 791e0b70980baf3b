"""Connector configuration: the marketing platforms a freeze reaches, and what their objects mean.

A connector is configured beside the channels (``connectors:`` in the channels file): the
platform kind, the calendar channel its content counts as, the *names* of the environment
variables holding its credentials, and a mapping from our tags and regions to the platform's
own objects (SendGrid categories and lists, Klaviyo tags and lists, Mailchimp audiences and
tags, Mastodon accounts). A freeze scope is matched against an item's mapped tags and regions
exactly as against a post of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from engine.kernel.durations import parse_duration
from engine.playbooks.located import Duration, EnvName, Model, Name, Text, one_of
from engine.playbooks.places import key as place

CONNECTOR_KINDS = frozenset({"sendgrid", "klaviyo", "mailchimp", "mastodon", "sandbox"})
# What each kind needs from the environment before the process may start.
NEEDED_CREDENTIALS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sendgrid": ("api_key",),
        "klaviyo": ("api_key",),
        "mailchimp": ("api_key",),
        "mastodon": ("access_token",),
        "sandbox": (),
    }
)
NEEDED_OPTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"mailchimp": ("server",), "mastodon": ("base_url",)}
)


@dataclass(frozen=True)
class Connector:
    """One configured marketing platform."""

    name: str
    kind: str
    channel: str
    credentials: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # our tag / region → the platform's labels that mean it: {"promo": {"category": ("sale",)}}
    tags: Mapping[str, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    regions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    default_tags: tuple[str, ...] = ()
    rescan_every: timedelta = timedelta(minutes=2)
    confirm_within: timedelta = timedelta(minutes=5)


def _labels(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise PydanticCustomError("labels", "expected a mapping of label kind to values")
    out: dict[str, tuple[str, ...]] = {}
    for kind, vals in value.items():
        items = vals if isinstance(vals, list) else [vals]
        if not all(isinstance(v, str | int) for v in items):
            raise PydanticCustomError("labels", "label values are strings")
        out[str(kind)] = tuple(str(v) for v in items)
    return out


Labels = Annotated[dict[str, Any], AfterValidator(_labels)]


def _positive(value: str) -> str:
    if parse_duration(value) <= timedelta(0):
        raise PydanticCustomError("positive", "expected a duration above zero")
    return value


class ConnectorSpec(Model):
    """One connector: which platform, which of our channels its content is, how to read it."""

    kind: one_of("kind", CONNECTOR_KINDS)  # type: ignore[valid-type]
    channel: Name = Field(description="the calendar channel the platform's content counts as")
    credentials: dict[str, EnvName] = Field(
        default_factory=dict,
        description="credential name → the environment variable that holds it",
    )
    options: dict[str, Text] = Field(default_factory=dict)
    tags: dict[Name, Labels] = Field(
        default_factory=dict, description="our tag → the platform's labels that mean it"
    )
    regions: dict[Name, Labels] = Field(
        default_factory=dict, description="our region → the platform's labels that mean it"
    )
    default_tags: list[Name] = Field(
        default_factory=list, description="tags every item of this platform carries"
    )
    rescan_every: Annotated[Duration, AfterValidator(_positive)] = "2m"
    confirm_within: Annotated[Duration, AfterValidator(_positive)] = "5m"


def build(name: str, c: ConnectorSpec) -> Connector:
    return Connector(
        name=name,
        kind=c.kind,
        channel=c.channel,
        credentials=MappingProxyType(dict(c.credentials)),
        options=MappingProxyType(dict(c.options)),
        # our names as the rest of the engine spells them: tags folded, regions as place keys
        tags=MappingProxyType({k.casefold(): MappingProxyType(v) for k, v in c.tags.items()}),
        regions=MappingProxyType({place(k): MappingProxyType(v) for k, v in c.regions.items()}),
        default_tags=tuple(t.casefold() for t in c.default_tags),
        rescan_every=parse_duration(c.rescan_every),
        confirm_within=parse_duration(c.confirm_within),
    )


def missing(connector: Connector, env: Mapping[str, str]) -> list[str]:
    """What the connector lacks to run (start-up refuses it): credentials and options."""
    out = [
        f"connectors.{connector.name}: credentials.{need} names no environment variable"
        for need in NEEDED_CREDENTIALS[connector.kind]
        if need not in connector.credentials
    ]
    out += [
        f"connectors.{connector.name}: credentials.{need}: the environment variable {var} "
        "is not set"
        for need, var in connector.credentials.items()
        if not env.get(var)
    ]
    out += [
        f"connectors.{connector.name}: options.{need} is required for {connector.kind}"
        for need in NEEDED_OPTIONS.get(connector.kind, ())
        if need not in connector.options
    ]
    return out
