"""Who is on call: roles, weekly rotations, overrides and quiet hours, as pure functions.

Times are UTC everywhere else; here, a rotation's hand-off and a person's quiet hours are
wall-clock times in their own zones, so "Monday 09:00 Europe/London" stays 09:00 local on
both sides of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Rotation:
    """One member on call at a time, handing off weekly at a local wall-clock time."""

    weekday: int  # 0 = Monday
    at: time
    timezone: str
    anchor: date  # the first hand-off is on or after this date; members[0] takes it


@dataclass(frozen=True)
class Override:
    user: str
    starts_at: datetime
    ends_at: datetime


def parse_handoff(text: str) -> tuple[int, time]:
    """Read ``"mon 09:00"``; raise ValueError with a hint."""
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS:
        raise ValueError(f"{text!r} is not a hand-off (use e.g. 'mon 09:00')")
    return WEEKDAYS.index(parts[0][:3]), parse_clock(parts[1])


def parse_clock(text: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (use HH:MM)") from None


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """Read ``"23:00-07:00"`` (may wrap past midnight)."""
    try:
        start, end = text.split("-")
    except ValueError:
        raise ValueError(f"{text!r} is not a quiet-hours window (use 23:00-07:00)") from None
    return parse_clock(start), parse_clock(end)


def _first_handoff(rot: Rotation) -> date:
    return rot.anchor + timedelta(days=(rot.weekday - rot.anchor.weekday()) % 7)


def on_call(
    members: Sequence[str],
    *,
    rotation: Rotation | None,
    overrides: Sequence[Override],
    at: datetime,
) -> tuple[str, ...]:
    """The people holding a role at ``at``: an override wins, then the rotation, else all."""
    active = [o for o in overrides if o.starts_at <= at < o.ends_at]
    if active:
        return (active[-1].user,)
    if rotation is None or not members:
        return tuple(members)
    zone = ZoneInfo(rotation.timezone)
    local = at.astimezone(zone)
    first = _first_handoff(rotation)
    weeks = (local.date() - first).days // 7
    handoff = datetime.combine(first + timedelta(weeks=weeks), rotation.at, tzinfo=zone)
    if local < handoff:
        weeks -= 1
    if weeks < 0:  # before the first hand-off: the last member still holds it
        weeks = -1
    return (members[weeks % len(members)],)


def next_handoff(rotation: Rotation, *, after: datetime) -> datetime:
    """The first hand-off strictly after ``after`` (in UTC terms; wall clock in its zone)."""
    zone = ZoneInfo(rotation.timezone)
    local = after.astimezone(zone)
    first = _first_handoff(rotation)
    day = max(first, local.date() - timedelta(days=7))
    day += timedelta(days=(rotation.weekday - day.weekday()) % 7)
    while True:
        when = datetime.combine(day, rotation.at, tzinfo=zone)
        if when > after:
            return when.astimezone(after.tzinfo or zone)
        day += timedelta(weeks=1)


def quiet_until(window: str | None, *, timezone: str, at: datetime) -> datetime | None:
    """When ``at`` falls in the person's quiet hours, the instant they end; else None."""
    if not window:
        return None
    start, end = parse_quiet_hours(window)
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    clock = local.time()
    if start == end:
        return None
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone)
