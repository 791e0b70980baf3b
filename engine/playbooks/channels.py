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

from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.yamlsrc import Reader, scalar_value

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


def parse_channels(text: str, *, file: str) -> dict[str, Channel]:
    """Parse a channels file; raise PlaybookInvalid listing every located problem."""
    r = Reader(file)
    root = r.compose(text)
    out: dict[str, Channel] = {}
    top = r.keys(root, "", required=["channels"]) if root is not None else None
    chans = r.mapping(top["channels"][1], "channels") if top and "channels" in top else None
    for name, (key_node, node) in (chans or {}).items():
        path = f"channels.{name}"
        if r.name(key_node, path) is None:
            continue
        spec = r.keys(
            node,
            path,
            required=["kind"],
            optional=["medium", "sender", "credentials", "rate_per_second", "options"],
        )
        if spec is None:
            continue
        kind = r.string(spec["kind"][1], f"{path}.kind") if "kind" in spec else None
        if kind is not None and kind not in KINDS:
            r.problem(
                spec["kind"][1],
                f"{path}.kind",
                f"unknown kind {kind!r} (expected one of: {', '.join(sorted(KINDS))})",
            )
            kind = None
        medium = _guess_medium(name)
        if "medium" in spec:
            m = r.string(spec["medium"][1], f"{path}.medium")
            if m is not None and m not in MEDIA:
                r.problem(
                    spec["medium"][1],
                    f"{path}.medium",
                    f"unknown medium {m!r} (expected one of: {', '.join(sorted(MEDIA))})",
                )
            elif m is not None:
                medium = m
        sender = r.string(spec["sender"][1], f"{path}.sender") if "sender" in spec else None
        creds: dict[str, str] = {}
        if "credentials" in spec:
            for cname, (_, cnode) in (
                r.mapping(spec["credentials"][1], f"{path}.credentials") or {}
            ).items():
                env_name = r.string(cnode, f"{path}.credentials.{cname}")
                if env_name is not None:
                    if not env_name.replace("_", "").isalnum() or not env_name.isupper():
                        r.problem(
                            cnode,
                            f"{path}.credentials.{cname}",
                            "name an environment variable (e.g. TWILIO_AUTH_TOKEN), "
                            "never the secret itself",
                        )
                    creds[cname] = env_name
        rate = None
        if "rate_per_second" in spec:
            value = scalar_value(spec["rate_per_second"][1])
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                rate = float(value)
            else:
                r.problem(
                    spec["rate_per_second"][1],
                    f"{path}.rate_per_second",
                    "expected a positive number",
                )
        options: dict[str, str] = {}
        if "options" in spec:
            for oname, (_, onode) in (
                r.mapping(spec["options"][1], f"{path}.options") or {}
            ).items():
                value = scalar_value(onode)
                if value is None or isinstance(value, list | dict):
                    r.problem(onode, f"{path}.options.{oname}", "expected a scalar value")
                else:
                    options[oname] = str(value)
        if kind is not None:
            out[name] = Channel(
                name=name,
                kind=kind,
                medium=medium,
                sender=sender,
                credentials=MappingProxyType(creds),
                rate_per_second=rate,
                options=MappingProxyType(options),
            )
    if r.problems:
        raise PlaybookInvalid(r.problems)
    return out


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
