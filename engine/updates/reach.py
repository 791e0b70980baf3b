"""Who an update reaches, before it is sent: each channel of its audience with how many
people it reaches there (personal channels) or that it is one post (social, chat, the status
page). The confirmation before sending and the approval card show it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from engine.audience import subscriptions
from engine.playbooks.channels import PERSONAL_MEDIA, Channel
from engine.playbooks.playbook import Audience


def reach(
    conn: Connection,
    audience: Audience,
    regions: Sequence[str],
    channels: Mapping[str, Channel],
) -> list[dict[str, Any]]:
    """One entry per channel of ``audience``: ``{channel, medium, people}``, where ``people``
    is how many confirmed, opted-in subscribers in ``regions`` have an address on it, or None
    for a channel that carries one post for everyone."""
    out: list[dict[str, Any]] = []
    counted: dict[str, int] = {}  # two channels on one medium reach the same people
    for ch in audience.channels:
        channel = channels.get(ch)
        medium = channel.medium if channel else ""
        people: int | None = None
        if medium in PERSONAL_MEDIA:
            if medium not in counted:
                counted[medium] = subscriptions.count_reachable_on(
                    conn, medium, audience=audience.name, regions=regions
                )
            people = counted[medium]
        out.append({"channel": ch, "medium": medium, "people": people})
    return out
