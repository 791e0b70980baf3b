"""Gauges read from the database at scrape time, so every process reports the same truth."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from engine.kernel.uow import Work
from engine.store.tables import deliveries, freezes, incidents, posts, timers


@dataclass(frozen=True)
class Gauges:
    open_incidents: dict[str, int]  # by severity
    deliveries: dict[str, int]  # outbox rows by state
    active_freezes: int
    held_posts: int
    pending_timers: dict[str, int]  # by kind


class Operations:
    def __init__(self, work: Work) -> None:
        self.work = work

    def gauges(self) -> Gauges:
        """A handful of grouped counts on one connection."""
        with self.work.read() as conn:
            open_ = conn.execute(
                sa.select(incidents.c.severity, sa.func.count())
                .where(incidents.c.resolved_at.is_(None))
                .group_by(incidents.c.severity)
            ).all()
            outbox = conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
            active = conn.execute(
                sa.select(sa.func.count()).select_from(freezes).where(freezes.c.lifted_at.is_(None))
            ).scalar_one()
            held = conn.execute(
                sa.select(sa.func.count()).select_from(posts).where(posts.c.state == "held")
            ).scalar_one()
            pending = conn.execute(
                sa.select(timers.c.kind, sa.func.count())
                .where(timers.c.state == "pending")
                .group_by(timers.c.kind)
            ).all()
        return Gauges(
            open_incidents={str(r[0]): int(r[1]) for r in open_},
            deliveries={str(r[0]): int(r[1]) for r in outbox},
            active_freezes=int(active),
            held_posts=int(held),
            pending_timers={str(r[0]): int(r[1]) for r in pending},
        )
