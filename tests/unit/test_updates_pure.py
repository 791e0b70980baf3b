"""SMS segments and approval rules (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.playbooks.playbook import Audience, Template
from engine.updates.rules import empty_variables, may_approve, render, sms_segments


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


def rendered(tpl: Template, note: str | None, variables: dict[str, Any]) -> set[str]:
    aud = Audience("staff", ("email", "sms"), None)
    out = render(playbook=None, audience=aud, template=tpl, free_text=note,  # type: ignore[arg-type]
                 channel_texts=None, locale="en", variables=variables,
                 media={"email": "email", "sms": "sms"})  # fmt: skip
    return {r.text for r in out.values()}


def test_a_template_that_places_the_note_itself_gets_it_there_once() -> None:
    """Issue 16: text typed while a template is selected is the template's note."""
    placed = Template(
        "with-note", "staff", {"en": "{{ incident.title }}{% if note %} ({{ note }}){% endif %}."}
    )
    plain = Template("plain", "staff", {"en": "{{ incident.title }}. Stay safe."})
    v = {"incident": {"title": "Lille"}}
    assert rendered(placed, "platform 3", v) == {"Lille (platform 3)."}
    assert rendered(placed, None, v) == {"Lille."}
    assert rendered(plain, " buses at 14:00 ", v) == {"Lille. Stay safe.\nbuses at 14:00"}
    assert rendered(plain, None, v) == {"Lille. Stay safe."}


@pytest.mark.parametrize(
    ("source", "empty"),
    [
        ("Update: {{ incident.summary }} Next by {{ next_update_at | hhmm }}.",
         ("incident.summary", "next_update_at")),
        ("{% if incident.summary %}{{ incident.summary }}{% endif %}", ()),
        ("on {{ incident.regions | join(', ') or 'our network' }}", ()),
        ("{{ incident.services | join(', ') if incident.services else 'payments' }}", ()),
        ("{{ incident.regions | join(', ') }}{% if incident.regions %}!{% endif %}",
         ("incident.regions",)),
        ("{{ incident.title }}{{ note }}", ()),  # the note is optional by nature
        ("{% for r in incident.regions %}{{ r }}{% endfor %}", ("incident.regions",)),
        ("{{ incident['summary'] }}", ("incident.summary",)),
        ("{% if incident.title %}{{ incident.summary }}{% endif %}", ("incident.summary",)),
        ("{% if x %}{% elif incident.summary %}{{ incident.summary }}{% endif %}", ()),
    ],
)  # fmt: skip
def test_empty_variables_a_template_shows(source: str, empty: tuple[str, ...]) -> None:
    v = {"incident": {"summary": "", "regions": [], "services": [], "title": "Lille"},
         "next_update_at": None, "note": ""}  # fmt: skip
    assert empty_variables(source, v) == empty


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("Next update by 12:15.", ["12:15"]),
        ("Next update by 12:15 GMT.", []),
        ("Prochaine information à 13h15 CET.", []),
        ("Buses at 10:30 am, trains at 11:00 BST", ["10:30 am"]),
        ("At 10:30 AM UTC and 12:00+01:00 and 09:00Z", []),
        ("Prochaine information à 13:15. Merci", ["13:15"]),
        ("No times here, platform 5", []),
    ],
)
def test_times_that_do_not_say_their_zone(text: str, bare: list[str]) -> None:
    from engine.updates.rules import times_without_zone

    assert times_without_zone(text) == bare


def test_a_public_update_with_a_bare_time_breaks_the_time_zone_rule() -> None:
    from engine.playbooks.playbook import Policy
    from engine.updates.rules import Rendered, violations

    pb: Any = type("PB", (), {"policy": Policy(public_requires=("time_zone",))})()
    found = violations(
        playbook=pb, audience=PASSENGERS, media={"sms": "sms"},
        rendered={"sms": Rendered("Next update by 12:15.", cites_next_update=True)},
    )  # fmt: skip
    assert [v["rule"] for v in found] == ["time_zone"] and "'12:15'" in found[0]["message"]
    staff = Audience("staff", ("sms",), None)
    quiet = violations(
        playbook=pb, audience=staff, media={"sms": "sms"},
        rendered={"sms": Rendered("Briefing at 12:15.")},
    )  # fmt: skip
    assert quiet == []  # the rule is for public updates
