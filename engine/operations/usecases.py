"""Gauges read from the database at scrape time, so every process reports the same truth."""

from __future__ import annotations

from dataclasses import dataclass

from engine.calendar import freezes
from engine.delivery import ledger
from engine.kernel.records import open_by_severity
from engine.kernel.uow import Work
from engine.timers import schedule as timers


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
            active, held = freezes.counts(conn)
            return Gauges(
                open_incidents=open_by_severity(conn),
                deliveries=ledger.counts_by_status(conn),
                active_freezes=active,
                held_posts=held,
                pending_timers=timers.pending_by_kind(conn),
            )
