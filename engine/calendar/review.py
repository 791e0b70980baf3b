"""Deciding on many held posts at once, with a short while to take it back.

A reviewer who publishes or cancels a whole review queue may have ticked one post too many.
So a bulk "publish" releases the posts a minute from now (they are scheduled, and publish
like any other post when due), and a bulk "cancel" can be undone for ten minutes: undoing
puts the posts back in the review queue as they were. A post someone has touched since (its
``updated_at`` moved on) is left alone; so is one already published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.calendar._tables import posts
from engine.calendar.freezes import active_scopes, facts, gate_share
from engine.calendar.rules import RELEASE_DELAY, holding, undo_window
from engine.kernel.errors import ValidationFailed
from engine.kernel.uow import note_due

BULK_ACTIONS = ("publish", "cancel")
MAX_BULK = 500


@dataclass(frozen=True)
class Bulk:
    """What a bulk decision did: the posts it changed, those it could not, and its stamp."""

    action: str
    stamp: datetime  # the decision's time: every changed post's updated_at
    done: tuple[int, ...]
    failed: dict[int, str] = field(default_factory=dict)


def _ids(post_ids: Sequence[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in post_ids))
    if not ids or len(ids) > MAX_BULK:
        raise ValidationFailed(
            "choose the posts to decide on", details={"post_id": f"1 to {MAX_BULK} posts"}
        )
    return ids


def decide(conn: Connection, *, post_ids: Sequence[int], action: str, now: datetime) -> Bulk:
    """Release (``publish``) or cancel held or scheduled posts, each as one decision."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed("unknown bulk action", details={"action": "publish | cancel"})
    ids = _ids(post_ids)
    p = posts.c
    rows = {
        r.id: r for r in conn.execute(sa.select(posts).where(p.id.in_(ids)).with_for_update()).all()
    }
    failed: dict[int, str] = {}
    done: list[int] = []
    scopes = {}
    if action == "publish":
        gate_share(conn)
        scopes = active_scopes(conn)
    for pid in ids:
        row = rows.get(pid)
        if row is None:
            failed[pid] = "no such post"
        elif row.state not in ("held", "scheduled"):
            failed[pid] = f"it is {row.state}"
        elif action == "publish" and (still := holding(scopes, facts(row))):
            failed[pid] = f"still held by freeze {', '.join(map(str, still))}: lift it first"
        else:
            done.append(pid)
    if done and action == "publish":
        conn.execute(
            posts.update()
            .where(p.id.in_(done))
            .values(
                state="scheduled",
                publish_at=now + RELEASE_DELAY,
                review=False,
                held_by=[],
                updated_at=now,
            )
        )
        note_due(conn, now + RELEASE_DELAY)
    elif done:
        conn.execute(
            posts.update()
            .where(p.id.in_(done))
            .values(state="cancelled", review=False, updated_at=now)
        )
    return Bulk(action, now, tuple(done), failed)


def undo(
    conn: Connection, *, post_ids: Sequence[int], action: str, stamp: datetime, now: datetime
) -> list[int]:
    """Take back a bulk decision made at ``stamp``: its posts return to the review queue.

    Only posts still as that decision left them come back; the rest are named by omission.
    """
    if action not in BULK_ACTIONS:
        raise ValidationFailed("unknown bulk action", details={"action": "publish | cancel"})
    ids = _ids(post_ids)
    if now >= stamp + undo_window(action):
        return []
    p = posts.c
    wanted = sa.select(posts).where(p.id.in_(ids), p.updated_at == stamp)
    if action == "publish":
        wanted = wanted.where(p.state == "scheduled", p.publish_at == stamp + RELEASE_DELAY)
    else:
        wanted = wanted.where(p.state == "cancelled")
    rows = conn.execute(wanted.with_for_update()).all()
    scopes = active_scopes(conn)
    back = []
    for row in rows:
        still = holding(scopes, facts(row))  # a freeze begun since holds it again
        conn.execute(
            posts.update()
            .where(p.id == row.id)
            .values(state="held", review=not still, held_by=still, updated_at=now)
        )
        back.append(int(row.id))
    return sorted(back)


def caught(conn: Connection) -> dict[int, list[int]]:
    """Scheduled posts an active freeze will hold when they come due: post id → freeze ids."""
    scopes = active_scopes(conn)
    if not scopes:
        return {}
    rows = conn.execute(sa.select(posts).where(posts.c.state == "scheduled")).all()
    return {int(r.id): found for r in rows if (found := holding(scopes, facts(r)))}
