"""SMS segments and approval rules (pure)."""

from __future__ import annotations

import pytest

from engine.playbooks.playbook import Audience
from engine.updates.rules import may_approve, sms_segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),  # é is in GSM-7
        ("à l'arrêt" + "a" * 61, 1),
        ("ê" * 71, 2),  # ê is not: UCS-2, 70 a segment
        ("€" * 80, 1),
        ("€" * 81, 2),  # the euro sign takes two GSM-7 units
    ],
)
def test_sms_segments(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


PASSENGERS = Audience("passengers", ("sms",), "comms_lead", two_person=True, public=True)
REGULATOR = Audience("regulator", ("email",), "legal", two_person=True)


def verdict(aud: Audience, **kw: object) -> tuple[bool, str]:
    args: dict[str, object] = {
        "audience": aud,
        "approver": "cam",
        "approver_role": "comms_lead",
        "approver_roster_roles": (),
        "authors": ("olu",),
        "has_violations": False,
        "override_reason": None,
    } | kw
    v = may_approve(**args)  # type: ignore[arg-type]
    return v.allowed, v.reason


def test_approval_rules() -> None:
    assert verdict(PASSENGERS) == (True, "")
    assert verdict(PASSENGERS, approver_role="operator")[0] is False
    assert "two-person" in verdict(PASSENGERS, authors=("cam",))[1]
    assert "policy" in verdict(PASSENGERS, has_violations=True)[1]
    assert verdict(PASSENGERS, has_violations=True, override_reason="legal cleared it")[0]
    assert verdict(REGULATOR)[0] is False  # a comms lead is not legal
    assert verdict(REGULATOR, approver_role="viewer", approver_roster_roles=("legal",))[0]
    assert (
        "only a comms lead"
        in verdict(
            REGULATOR,
            approver_role="viewer",
            approver_roster_roles=("legal",),
            has_violations=True,
            override_reason="x",
        )[1]
    )


STAFF = Audience("staff", ("email",), None)


def test_everyone_who_wrote_a_revision_is_an_author_under_two_person() -> None:
    """Issue 13.3: rewriting a colleague's draft does not let the rewriter approve it alone."""
    assert "two-person" in verdict(PASSENGERS, authors=("olu", "cam"))[1]
    assert verdict(PASSENGERS, authors=("olu", "dee"))[0]


def test_an_audience_without_approval_still_needs_the_publish_permission() -> None:
    """Issue 13.4: a viewer cannot publish to an ``approval: none`` audience."""
    assert verdict(STAFF, approver_role="viewer")[0] is False
    assert verdict(STAFF, approver_role="marketer")[0] is False
    assert verdict(STAFF, approver_role="operator") == (True, "")


def test_the_policy_applies_to_an_audience_without_approval() -> None:
    """Issue 13.4: policy breaches need an override reason, and a comms lead, everywhere."""
    assert "policy" in verdict(STAFF, approver_role="operator", has_violations=True)[1]
    assert (
        "only a comms lead"
        in verdict(STAFF, approver_role="operator", has_violations=True, override_reason="x")[1]
    )
    assert verdict(STAFF, approver_role="comms_lead", has_violations=True, override_reason="x")[0]
