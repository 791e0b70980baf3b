"""Channel configuration: which outbound channels exist in this environment.

Channels are configured apart from playbooks (so one playbook serves every environment): a
name the playbooks use (``sms``, ``twitter``, ``newsletter``…), the adapter kind that carries
it, the sender, and the *names* of the environment variables that hold its credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.located import EnvName, Model, Name, Text, load, one_of, schema

KINDS = frozenset(
    {"sandbox", "twilio_sms", "twilio_voice", "email", "webhook", "slack", "social", "status_page"}
)
MEDIA = frozenset({"sms", "voice", "email", "social", "newsletter", "webhook", "status_page"})


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
    """config/channels.yaml: the outbound channels of this environment."""

    channels: dict[Name, ChannelSpec]


def parse_channels(text: str, *, file: str) -> dict[str, Channel]:
    """Parse a channels file; raise PlaybookInvalid listing every located problem."""
    spec, located = load(ChannelsFile, text, file=file)
    if spec is None or located.reader.problems:
        raise PlaybookInvalid(located.reader.problems)
    return {
        name: Channel(
            name=name,
            kind=c.kind,
            medium=c.medium or _guess_medium(name),
            sender=c.sender,
            credentials=MappingProxyType(dict(c.credentials)),
            rate_per_second=c.rate_per_second,
            options=MappingProxyType({k: str(v) for k, v in c.options.items()}),
        )
        for name, c in spec.channels.items()
    }


def channels_schema() -> dict[str, Any]:
    """The JSON Schema of channels files (``crisis schema channels``)."""
    return schema(ChannelsFile, title="crisiscomms channels")


def load_channels(path: Path) -> dict[str, Channel]:
    """Load the channels file at ``path``."""
    return parse_channels(path.read_text(encoding="utf-8"), file=str(path))


PERSONAL_MEDIA = ("sms", "voice", "email", "newsletter")


def personal_address(channel: Channel, *, phone: str | None, email: str | None) -> str | None:
    """A person's address on ``channel``: their phone for SMS and voice, email for mail."""
    if channel.medium in ("sms", "voice"):
        return phone or None
    if channel.medium in ("email", "newsletter"):
        return email or None
    return None


def endpoint(channel: Channel) -> str:
    """Where a broadcast channel sends (its URL or list; the sandbox keeps a label)."""
    return (
        channel.options.get("url")
        or channel.options.get("list")
        or (f"{channel.kind}:{channel.name}")
    )
