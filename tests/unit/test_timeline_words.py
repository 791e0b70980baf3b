"""Issue 16: the timeline read like developer output (``paged escalation step=1.1
notify=['role:duty-manager'] to=['dana/sms'] unroutable=[] deferred=[]``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.kernel.models import Event
from web.timeline import describe

NAMES = {"dana": "Dana Duty", "ed": "Ed Director"}


def event(type_: str, **data: Any) -> Event:
    return Event(1, 1, type_, "escalation", datetime(2026, 12, 3, tzinfo=UTC), data)


def test_each_event_reads_as_a_sentence() -> None:
    paged = event("paged", step="1.2", notify=["role:duty-manager", "role:ops-director"],
                  to=["dana/sms", "dana/voice", "ed/sms"], unroutable=[], deferred=[])  # fmt: skip
    assert describe(paged, NAMES) == (
        "Paged Dana Duty by SMS and voice call, Ed Director by SMS "
        "(step 1.2, duty-manager, ops-director)"
    )
    quiet = event("paged", step="1.1", notify=["role:duty-manager"], to=[],
                  unroutable=["ops"], deferred=["dana/sms"])  # fmt: skip
    assert describe(quiet, NAMES) == (
        "Paged nobody could be reached (step 1.1, duty-manager); held for quiet hours: "
        "Dana Duty by SMS; no way to reach ops"
    )
    moved = event("transitioned", trigger="identify", **{"from": "investigating"},
                  to="identified", note="points failure")  # fmt: skip
    assert describe(moved) == "investigating → identified (identify) — points failure"
    changed = event("amended", before={"severity": "sev2", "regions": []},
                    after={"severity": "sev1", "regions": ["lille"]})  # fmt: skip
    assert (
        describe(changed)
        == "Changed severity from “sev2” to “sev1”, regions from everywhere to lille"
    )
    assert describe(event("published", update=3, audience="passengers", deliveries=8)) == (
        "Published update #3 to passengers: 8 message(s) queued"
    )


def test_an_unknown_or_odd_event_still_says_what_it_holds() -> None:
    assert describe(event("connector_confirmed", text="crm: 2 of 2 paused")) == "crm: 2 of 2 paused"
    assert describe(event("something_new", a=1)) == "Something new: a=1"
    assert describe(event("paged", step="1.1", to="not-a-list")).startswith("Paged")
    assert describe(event("amended", after="odd")) == "Amended: after=odd"
