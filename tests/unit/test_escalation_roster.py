"""Pure ladder and roster logic, including the daylight-saving changes of 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from engine.accounts.rules import zone_problem
from engine.paging.escalation import StepRef, exhausted_at, plan, progress, round_length
from engine.paging.roster import (
    Override,
    Rotation,
    next_handoff,
    on_call,
    parse_handoff,
    quiet_until,
)
from engine.playbooks.playbook import Escalation, EscalationStep, Target

T0 = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def ladder(*afters: int, repeat: int = 0, repeat_after: int | None = None) -> Escalation:
    steps = tuple(EscalationStep(a * M, (Target("role", "duty"),), ("sms",)) for a in afters)
    return Escalation("acknowledge", repeat, steps, repeat_after * M if repeat_after else None)


def test_round_length_is_derived_from_the_steps() -> None:
    assert round_length(ladder(0, 10, 20)) == 30 * M
    assert round_length(ladder(0, 5, 15)) == 25 * M
    assert round_length(ladder(0)) == 10 * M
    assert round_length(ladder(0, 10, repeat_after=45)) == 45 * M


def test_plan_with_repeat() -> None:
    got = [(p.ref.label, (p.due_at - T0) // M) for p in plan(ladder(0, 10, 20, repeat=1), T0)]
    assert got == [("1.1", 0), ("1.2", 10), ("1.3", 20), ("2.1", 30), ("2.2", 40), ("2.3", 50)]
    assert exhausted_at(ladder(0, 10, 20, repeat=1), T0) == T0 + 60 * M


def test_progress_fires_each_step_once_in_order() -> None:
    lad = ladder(0, 10, 20)
    fired: set[StepRef] = set()
    seen = []
    for minute in range(0, 40):
        now = T0 + minute * M
        p = progress(lad, started_at=T0, fired=frozenset(fired), stopped=False, now=now)
        for d in p.due:
            seen.append((minute, d.ref.label))
            fired.add(d.ref)
    assert seen == [(0, "1.1"), (10, "1.2"), (20, "1.3")]


def test_progress_reports_the_next_wake_up_and_exhaustion() -> None:
    lad = ladder(0, 10, 20)
    everything = frozenset(p.ref for p in plan(lad, T0))
    p = progress(lad, started_at=T0, fired=frozenset(), stopped=False, now=T0 + 5 * M)
    assert [d.ref.label for d in p.due] == ["1.1"] and p.next_at == T0 + 10 * M
    p = progress(lad, started_at=T0, fired=everything, stopped=False, now=T0 + 25 * M)
    assert p.due == () and p.next_at == T0 + 30 * M and not p.exhausted
    p = progress(lad, started_at=T0, fired=everything, stopped=False, now=T0 + 30 * M)
    assert p.exhausted and p.next_at is None


def test_overdue_steps_all_come_due_after_downtime() -> None:
    """A process down for 25 minutes finds three overdue steps, each once."""
    p = progress(
        ladder(0, 10, 20), started_at=T0, fired=frozenset(), stopped=False, now=T0 + 25 * M
    )
    assert [d.ref.label for d in p.due] == ["1.1", "1.2", "1.3"]


def test_acknowledgement_mid_ladder_stops_everything() -> None:
    p = progress(
        ladder(0, 10, 20, repeat=2),
        started_at=T0,
        fired=frozenset({StepRef(0, 0)}),
        stopped=True,
        now=T0 + 15 * M,
    )
    assert p.due == () and p.next_at is None and not p.exhausted


def test_severity_change_replans_from_that_moment() -> None:
    """Re-planning is a new start: the first step of the new ladder is due at once."""
    changed = T0 + 7 * M
    p = progress(ladder(0, 10), started_at=changed, fired=frozenset(), stopped=False, now=changed)
    assert [d.ref.label for d in p.due] == ["1.1"] and p.next_at == changed + 10 * M


# --- roster -------------------------------------------------------------------------------
def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


LONDON = Rotation(weekday=0, at=time(9, 0), timezone="Europe/London", anchor=date(2026, 1, 5))
NEW_YORK = Rotation(weekday=0, at=time(9, 0), timezone="America/New_York", anchor=date(2026, 1, 5))
CREW = ("ana", "ben", "cat")


def test_weekly_rotation_hands_off_at_local_time() -> None:
    assert on_call(CREW, rotation=LONDON, overrides=(), at=utc(2026, 1, 5, 9, 0)) == ("ana",)
    assert on_call(CREW, rotation=LONDON, overrides=(), at=utc(2026, 1, 12, 8, 59)) == ("ana",)
    assert on_call(CREW, rotation=LONDON, overrides=(), at=utc(2026, 1, 12, 9, 0)) == ("ben",)
    assert on_call(CREW, rotation=LONDON, overrides=(), at=utc(2026, 1, 26, 9, 0)) == ("ana",)


@pytest.mark.parametrize(
    ("rotation", "monday", "utc_handoff_hour"),
    [
        # Europe/London: BST from Sun 29 Mar 2026, GMT again from Sun 25 Oct 2026.
        (LONDON, date(2026, 3, 23), 9),
        (LONDON, date(2026, 3, 30), 8),
        (LONDON, date(2026, 10, 19), 8),
        (LONDON, date(2026, 10, 26), 9),
        # America/New_York: EDT from Sun 8 Mar 2026, EST again from Sun 1 Nov 2026.
        (NEW_YORK, date(2026, 3, 2), 14),
        (NEW_YORK, date(2026, 3, 9), 13),
        (NEW_YORK, date(2026, 10, 26), 13),
        (NEW_YORK, date(2026, 11, 2), 14),
    ],
)
def test_handoff_stays_at_nine_local_across_daylight_saving(
    rotation: Rotation, monday: date, utc_handoff_hour: int
) -> None:
    handoff = datetime(monday.year, monday.month, monday.day, utc_handoff_hour, tzinfo=UTC)
    before = on_call(CREW, rotation=rotation, overrides=(), at=handoff - timedelta(seconds=1))
    after = on_call(CREW, rotation=rotation, overrides=(), at=handoff)
    assert before != after
    assert CREW.index(after[0]) == (CREW.index(before[0]) + 1) % 3


def test_override_wins_while_it_lasts() -> None:
    o = Override("zed", utc(2026, 12, 24, 18), utc(2026, 12, 27, 9))
    assert on_call(CREW, rotation=LONDON, overrides=[o], at=utc(2026, 12, 25, 3)) == ("zed",)
    assert on_call(CREW, rotation=LONDON, overrides=[o], at=utc(2026, 12, 27, 9)) != ("zed",)


def test_without_rotation_everyone_holds_the_role() -> None:
    assert on_call(CREW, rotation=None, overrides=(), at=T0) == CREW


def test_handoff_parsing() -> None:
    assert parse_handoff("Mon 09:00") == (0, time(9, 0))
    with pytest.raises(ValueError, match="use e.g. 'mon 09:00'"):
        parse_handoff("monday at nine")


@pytest.mark.parametrize(
    ("zone", "night", "end_utc_hour"),
    [
        ("Europe/London", date(2026, 3, 28), 6),  # ends 07:00 BST = 06:00 UTC
        ("Europe/London", date(2026, 10, 24), 7),  # ends 07:00 GMT = 07:00 UTC
        ("America/New_York", date(2026, 3, 7), 11),  # 07:00 EDT
        ("America/New_York", date(2026, 10, 31), 12),  # 07:00 EST
    ],
)
def test_quiet_hours_end_at_local_time_across_daylight_saving(
    zone: str, night: date, end_utc_hour: int
) -> None:
    from zoneinfo import ZoneInfo

    at = datetime(night.year, night.month, night.day, 23, 30, tzinfo=ZoneInfo(zone))
    end = quiet_until("23:00-07:00", timezone=zone, at=at)
    assert end is not None and end.astimezone(UTC).hour == end_utc_hour
    assert quiet_until("23:00-07:00", timezone=zone, at=end) is None


def test_quiet_hours_outside_and_same_day_windows() -> None:
    assert quiet_until("23:00-07:00", timezone="UTC", at=utc(2026, 1, 1, 12)) is None
    assert quiet_until("12:00-13:00", timezone="UTC", at=utc(2026, 1, 1, 12, 30)) == utc(
        2026, 1, 1, 13
    )
    assert quiet_until(None, timezone="UTC", at=T0) is None


def test_the_next_hand_off_keeps_local_wall_clock_time_across_daylight_saving() -> None:

    rot = Rotation(0, time(9, 0), "Europe/London", date(2026, 1, 5))
    utc = UTC
    # Thursday 3 December (GMT): the next Monday 09:00 is 09:00 UTC.
    assert next_handoff(rot, after=datetime(2026, 12, 3, 15, tzinfo=utc)) == datetime(
        2026, 12, 7, 9, tzinfo=utc
    )
    # At the very instant of a hand-off, the next one is a week later.
    assert next_handoff(rot, after=datetime(2026, 12, 7, 9, tzinfo=utc)) == datetime(
        2026, 12, 14, 9, tzinfo=utc
    )
    # Friday 27 March: the clocks go forward on Sunday, so Monday 09:00 BST is 08:00 UTC.
    assert next_handoff(rot, after=datetime(2026, 3, 27, 12, tzinfo=utc)) == datetime(
        2026, 3, 30, 8, tzinfo=utc
    )
    # Before the rotation's first hand-off: that first one (Monday 5 January).
    assert next_handoff(rot, after=datetime(2025, 12, 1, tzinfo=utc)) == datetime(
        2026, 1, 5, 9, tzinfo=utc
    )


def test_a_time_zone_is_an_iana_name_or_empty_for_the_browsers() -> None:

    assert zone_problem("") is None and zone_problem("Europe/Paris") is None
    assert zone_problem("UTC") is None
    for bad in ("Mars/Base", "../../etc/passwd", "/etc/localtime", "x" * 100):
        assert zone_problem(bad), bad
