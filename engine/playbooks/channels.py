"""Channel configuration: which outbound channels exist in this environment.

Channels are configured apart from playbooks (so one playbook serves every environment): a
name the playbooks use (``sms``, ``twitter``, ``newsletter``…), the adapter kind that carries
it, the sender, and the *names* of the environment variables that hold its credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from engine.kernel.errors import PlaybookInvalid
from engine.kernel.lengths import TextLimit
from engine.playbooks.connectors import Connector, ConnectorSpec, build
from engine.playbooks.located import EnvName, Model, Name, Text, load, one_of, schema

KINDS = frozenset(
    {
        "sandbox",
        "twilio_sms",
        "twilio_voice",
        "email",
        "webhook",
        "slack",
        "slack_bot",
        "teams",
        "social",
        "mastodon",
        "bluesky",
        "x",
        "status_page",
    }
)
MEDIA = frozenset(
    {"sms", "voice", "email", "social", "newsletter", "webhook", "chat", "status_page"}
)


@dataclass(frozen=True)
class Channel:
    """One configured outbound channel."""

    name: str
    kind: str
    medium: str
    sender: str | None = None
    credentials: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    rate_per_second: float | None = None
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# What a kind carries when the channel does not say.
KIND_MEDIA: Mapping[str, str] = MappingProxyType(
    {"slack_bot": "chat", "teams": "chat", "mastodon": "social", "bluesky": "social", "x": "social"}
)


def _guess_medium(name: str) -> str:
    if name in MEDIA:
        return name
    if name in {"twitter", "x", "facebook", "instagram", "linkedin", "mastodon", "bluesky"}:
        return "social"
    if name in {"slack", "teams"}:
        return "webhook"
    return "webhook"


def _option(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("scalar", "expected a scalar value")
    return value


def _rate(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("positive", "expected a positive number")
    return value


Option = Annotated[
    Any,
    AfterValidator(_option),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


class ChannelSpec(Model):
    """One channel: the adapter kind, what it carries, who sends, where its secrets live."""

    kind: one_of("kind", KINDS)  # type: ignore[valid-type]
    medium: one_of("medium", MEDIA) | None = None  # type: ignore[valid-type]
    sender: Text | None = None
    credentials: dict[str, EnvName] = Field(
        default_factory=dict,
        description="credential name → the environment variable that holds it",
    )
    rate_per_second: Annotated[float, AfterValidator(_rate)] | None = None
    options: dict[str, Option] = Field(default_factory=dict)


class ChannelsFile(Model):
    """config/channels.yaml: the outbound channels of this environment, and the marketing
    platforms a freeze reaches (connectors)."""

    channels: dict[Name, ChannelSpec]
    connectors: dict[Name, ConnectorSpec] = Field(default_factory=dict)


def parse_channels(text: str, *, file: str) -> dict[str, Channel]:
    """Parse a channels file; raise PlaybookInvalid listing every located problem."""
    return parse_config(text, file=file)[0]


def parse_config(text: str, *, file: str) -> tuple[dict[str, Channel], dict[str, Connector]]:
    """The channels and connectors of a channels file (every located problem at once)."""
    spec, located = load(ChannelsFile, text, file=file)
    data: dict[str, Any] = located.data if isinstance(located.data, dict) else {}
    names: dict[str, Any] = _mapping(data.get("channels"))
    found: dict[str, Any] = _mapping(data.get("connectors"))
    for name, c in found.items():  # checked even when other parts are broken
        where = ("connectors", name)
        if name in names:
            located.reader.problem(
                located.keys.get(where) or located.node(where),
                f"connectors.{name}",
                "a connector cannot share its name with a channel (the outbox routes by name)",
            )
        channel = c.get("channel") if isinstance(c, dict) else None
        if isinstance(channel, str) and names and channel not in names:
            located.reader.problem(
                located.node((*where, "channel")),
                f"connectors.{name}.channel",
                f"unknown channel {channel!r} (configured: {', '.join(sorted(names))})",
            )
    if spec is None or located.reader.problems:
        raise PlaybookInvalid(located.reader.problems)
    channels = {
        name: Channel(
            name=name,
            kind=c.kind,
            medium=c.medium or KIND_MEDIA.get(c.kind) or _guess_medium(name),
            sender=c.sender,
            credentials=MappingProxyType(dict(c.credentials)),
            rate_per_second=c.rate_per_second,
            options=MappingProxyType({k: str(v) for k, v in c.options.items()}),
        )
        for name, c in spec.channels.items()
    }
    return channels, {name: build(name, c) for name, c in spec.connectors.items()}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def channels_schema() -> dict[str, Any]:
    """The JSON Schema of channels files (``crisis schema channels``)."""
    return schema(ChannelsFile, title="crisiscomms channels")


def load_channels(path: Path) -> dict[str, Channel]:
    """Load the channels file at ``path``."""
    return parse_channels(path.read_text(encoding="utf-8"), file=str(path))


def load_config(path: Path) -> tuple[dict[str, Channel], dict[str, Connector]]:
    """Load the channels and connectors of the channels file at ``path``."""
    return parse_config(path.read_text(encoding="utf-8"), file=str(path))


PERSONAL_MEDIA = ("sms", "voice", "email", "newsletter")
# The kinds whose published posts a correction edits in place (the others get the correction
# as a new message: a reply in the incident's thread where they thread).
EDITS_IN_PLACE = frozenset({"mastodon", "slack_bot"})
# The kinds that show approval cards with buttons (``options.approvals: true``).
APPROVAL_CARDS = frozenset({"slack_bot"})
# The longest text each kind of platform takes, unless the channel says (options.max_characters,
# e.g. a Mastodon instance that allows more): a draft over it is a policy problem.
KIND_LIMITS: Mapping[str, TextLimit] = MappingProxyType(
    {
        "mastodon": TextLimit(500, "Mastodon", "mastodon"),
        "bluesky": TextLimit(300, "Bluesky", "graphemes", max_bytes=3000),
        "x": TextLimit(280, "X", "x_weighted"),
        "slack_bot": TextLimit(3000, "a Slack message section"),
    }
)


def text_limits(channels: Mapping[str, Channel]) -> dict[str, TextLimit]:
    """Per channel: the platform's text limit, its name and how it counts, where it has one."""
    out: dict[str, TextLimit] = {}
    for name, c in channels.items():
        limit = KIND_LIMITS.get(c.kind, TextLimit(0, c.kind))
        given = c.options.get("max_characters", "")
        if given.isdigit() and int(given) > 0:
            limit = replace(limit, most=int(given))
        if limit.most:
            out[name] = limit
    return out


def personal_field(medium: str) -> str | None:
    """Which of a person's addresses a medium uses: "phone" for SMS and voice, "email" for
    mail; None for media that do not reach one person."""
    if medium in ("sms", "voice"):
        return "phone"
    if medium in ("email", "newsletter"):
        return "email"
    return None


def personal_address(channel: Channel, *, phone: str | None, email: str | None) -> str | None:
    """A person's address on ``channel``: their phone for SMS and voice, email for mail."""
    field = personal_field(channel.medium)
    return {"phone": phone, "email": email}.get(field or "") or None


def endpoint(channel: Channel) -> str:
    """Where a broadcast channel sends (its URL or list; the sandbox keeps a label)."""
    return (
        channel.options.get("url")
        or channel.options.get("list")
        or channel.options.get("channel")
        or (f"{channel.kind}:{channel.name}")
    )
