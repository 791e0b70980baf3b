"""Who an update reaches, before it is sent: each channel of its audience with how many
people it reaches there (personal channels) or that it is one post (social, chat, the status
page), and, for an update in several languages, how many read each. The confirmation before
sending and the approval card show it; publishing splits the personal deliveries the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from engine.audience import subscriptions
from engine.audience.subscriptions import Speaking
from engine.playbooks.channels import PERSONAL_MEDIA, Channel
from engine.playbooks.playbook import Audience
from engine.updates import locales as languages


def split(
    conn: Connection, audience: str, regions: Sequence[str], locales: Sequence[str]
) -> dict[str, Speaking | None]:
    """Which subscribers get each of an update's locales (its own first): each person exactly
    one. An update in one language goes to everyone (None)."""
    if len(locales) < 2:
        return {locales[0] if locales else "": None}
    main = locales[0]
    spoken = subscriptions.languages_of(conn, audience=audience, regions=regions)
    assigned = languages.assign(spoken, locales, main)
    taken = tuple(lang for langs in assigned.values() for lang in langs)
    out: dict[str, Speaking | None] = {main: Speaking(taken, rest=True)}
    return out | {loc: Speaking(tuple(langs)) for loc, langs in assigned.items()}


def reach(
    conn: Connection,
    audience: Audience,
    regions: Sequence[str],
    channels: Mapping[str, Channel],
    *,
    locales: Sequence[str] = (),
    notify: bool = True,
) -> list[dict[str, Any]]:
    """One entry per channel of ``audience``: ``{channel, medium, people}``, where ``people``
    is how many confirmed, opted-in subscribers in ``regions`` have an address on it, or None
    for a channel that carries one post for everyone; with several ``locales``, also
    ``languages``: how many of them get each. Without ``notify`` the personal channels reach
    nobody (``notified`` False): the update is only posted."""
    out: list[dict[str, Any]] = []
    counted: dict[str, dict[str, int]] = {}  # two channels on one medium reach the same people
    who = split(conn, audience.name, regions, locales) if len(locales) > 1 else {}
    for ch in audience.channels:
        channel = channels.get(ch)
        medium = channel.medium if channel else ""
        entry: dict[str, Any] = {"channel": ch, "medium": medium, "people": None}
        if medium in PERSONAL_MEDIA and not notify:
            entry |= {"people": 0, "notified": False}
        elif medium in PERSONAL_MEDIA:
            if medium not in counted:
                counted[medium] = {
                    loc: subscriptions.count_reachable_on(
                        conn, medium, audience=audience.name, regions=regions, speaking=speaking
                    )
                    for loc, speaking in (who or {"": None}).items()
                }
            entry["people"] = sum(counted[medium].values())
            if who:
                entry["languages"] = counted[medium]
        out.append(entry)
    return out
