"""Escalation ladders as plain data: when each step is due, and when the ladder is spent.

A ladder starts at ``started_at``. Round ``r`` (0 … repeat) begins ``r × round_length``
later and its step ``i`` is due ``step.after`` into the round. After the last round the ladder
is exhausted at ``(repeat + 1) × round_length``. Without ``repeat_after`` a round lasts its
last step's ``after`` plus the gap between the last two steps (10 minutes for a single step),
and never less than one minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.playbooks.playbook import Escalation

SINGLE_STEP_GAP = timedelta(minutes=10)
MIN_ROUND = timedelta(minutes=1)


@dataclass(frozen=True, order=True)
class StepRef:
    """One firing of one step: round ``round``, step index ``step``."""

    round: int
    step: int

    @property
    def label(self) -> str:
        return f"{self.round + 1}.{self.step + 1}"


@dataclass(frozen=True)
class Planned:
    ref: StepRef
    due_at: datetime


@dataclass(frozen=True)
class Progress:
    """What is due now and what comes next, for a ladder at one instant."""

    due: tuple[Planned, ...]
    next_at: datetime | None
    exhausted: bool


def round_length(ladder: Escalation) -> timedelta:
    if ladder.repeat_after is not None:
        return ladder.repeat_after
    if not ladder.steps:
        return MIN_ROUND
    last = ladder.steps[-1].after
    gap = last - ladder.steps[-2].after if len(ladder.steps) > 1 else SINGLE_STEP_GAP
    return max(last + (gap or SINGLE_STEP_GAP), MIN_ROUND)


def plan(ladder: Escalation, started_at: datetime) -> list[Planned]:
    """Every step firing of the ladder, in order."""
    length = round_length(ladder)
    return [
        Planned(StepRef(r, i), started_at + r * length + step.after)
        for r in range(ladder.repeat + 1)
        for i, step in enumerate(ladder.steps)
    ]


def exhausted_at(ladder: Escalation, started_at: datetime) -> datetime:
    return started_at + (ladder.repeat + 1) * round_length(ladder)


def progress(
    ladder: Escalation,
    *,
    started_at: datetime,
    fired: frozenset[StepRef],
    stopped: bool,
    now: datetime,
) -> Progress:
    """Steps due at ``now`` that have not fired, the next wake-up, and whether it is spent.

    A stopped ladder (acknowledged, its ``until`` trigger fired, or the incident resolved)
    has nothing due and never wakes again.
    """
    if stopped:
        return Progress((), None, False)
    steps = plan(ladder, started_at)
    due = tuple(p for p in steps if p.due_at <= now and p.ref not in fired)
    later = [p.due_at for p in steps if p.due_at > now]
    end = exhausted_at(ladder, started_at)
    if later:
        return Progress(due, min(later), False)
    return Progress(due, None if now >= end else end, now >= end)
