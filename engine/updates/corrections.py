"""Corrections of published updates: what a correction says on each channel — the corrected
text itself where the platform edits the published post in place (Mastodon, Slack), the
text under "Correction:" everywhere else — and which update it may correct (a published one
of the same incident and audience)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.playbooks.channels import EDITS_IN_PLACE, Channel
from engine.playbooks.playbook import Audience
from engine.updates._tables import updates
from engine.updates.rules import correction_texts


def texts(
    body: str, aud: Audience, *, locale: str, channels: Mapping[str, Channel]
) -> dict[str, str]:
    """The per-channel texts of a correction to ``aud``."""
    edits = [n for n in aud.channels if (c := channels.get(n)) and c.kind in EDITS_IN_PLACE]
    return correction_texts(body, locale=locale, channels=aud.channels, edits_in_place=edits)


def texts_of(
    conn: Connection,
    inc: Row[Any],
    aud: Audience,
    corrects: int,
    *,
    body: str,
    locale: str,
    channels: Mapping[str, Channel],
    problems: dict[str, str],
) -> dict[str, str]:
    """The per-channel texts of a correction of update ``corrects`` (problems noted)."""
    found = conn.execute(sa.select(updates).where(updates.c.id == corrects)).first()
    if found is None or found.incident_id != inc.id:
        problems["corrects"] = f"no update {corrects} in INC-{inc.id}"
        return {}
    if found.status not in ("sending", "sent"):
        problems["corrects"] = f"update {corrects} is {found.status}: only a published one"
        return {}
    if found.audience != aud.name:
        problems["audience"] = f"a correction goes to the same audience ({found.audience})"
        return {}
    return texts(body, aud, locale=locale, channels=channels)
