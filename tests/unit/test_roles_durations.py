"""Role ladder and playbook durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.kernel.durations import format_duration, parse_duration
from engine.kernel.roles import Perm, may, satisfies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0m", timedelta(0)),
        ("0", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h 30m", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["10 mins", "", "m", "-5m", "1.5h", "10", "1w"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(use 10m, 1h30m\)"):
        parse_duration(text)


def test_the_role_ladder() -> None:
    assert satisfies("admin", "comms_lead") and satisfies("comms_lead", "operator")
    assert not satisfies("operator", "comms_lead")
    assert not satisfies("marketer", "operator") and not satisfies("automation", "operator")


def test_automation_may_declare_and_freeze_but_never_approve_or_lift() -> None:
    assert may("automation", Perm.DECLARE) and may("automation", Perm.CREATE_FREEZE)
    assert not may("automation", Perm.APPROVE) and not may("automation", Perm.LIFT_FREEZE)
    assert not may("marketer", Perm.LIFT_FREEZE) and may("marketer", Perm.MANAGE_POSTS)
    assert not may("viewer", Perm.DECLARE) and may("viewer", Perm.READ)
