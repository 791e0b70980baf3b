"""Issue 16: everyone who heard about an incident hears that it is over."""

from __future__ import annotations

from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.errors import PlaybookInvalid
from engine.playbooks.loading import load_text
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_hardening_updates import resolve


def updates_of(svc: Crisis, iid: int) -> list[dict[str, Any]]:
    return sorted(svc.updates.list_updates(incident_id=iid), key=lambda u: u["id"])


def test_each_audience_that_heard_of_it_hears_that_it_is_over(service: Crisis) -> None:
    service.audience.add_subscriber(actor=ADMIN, audience="passengers", phone="+15555550111")
    service.audience.add_subscriber(actor=ADMIN, audience="staff", phone="+15555550112")
    iid = service.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev1",
        title="Lille",
        regions=["lille"],
    ).id
    holding = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert holding["status"] == "sending"  # pre-approved for sev1
    briefing = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="staff", template="staff-briefing"
    )
    assert briefing["status"] == "sending"  # staff: no approval
    resolve(service, iid)
    closing = {u["audience"]: u for u in updates_of(service, iid) if u["author"] == "playbook"}
    # Passengers: the playbook's closing template, approved like any public update.
    assert closing["passengers"]["template"] == "all-clear"
    assert closing["passengers"]["status"] == "pending_approval"
    # Staff: no closing template, so the default; no approval needed, so it is out already.
    assert closing["staff"]["template"] == "staff-resolved"
    assert closing["staff"]["status"] == "sending"
    assert "Lille: this is now resolved" in closing["staff"]["rendered"]["sms"]
    # Approving the all-clear after resolution works (it is a closing update), and the comms
    # lead who resolved may approve it: the playbook drafted it, not they.
    u = closing["passengers"]
    out = service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    assert out["status"] == "sending"


def test_an_audience_that_heard_nothing_is_told_nothing(service: Crisis) -> None:
    iid = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Quiet"
    ).id
    resolve(service, iid)
    assert [u for u in updates_of(service, iid) if u["author"] != "system"] == []


def test_resolving_twice_drafts_one_closing_update_per_audience(service: Crisis) -> None:
    iid = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Lille"
    ).id
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    mine = service.updates.draft_update(
        actor=COMMS, incident_id=iid, audience="passengers", template="all-clear"
    )
    resolve(service, iid)
    alls = [u for u in updates_of(service, iid) if u["template"] == "all-clear"]
    assert [u["id"] for u in alls] == [mine["id"]]  # the comms lead's own draft stands


MINIMAL = """\
id: mini
name: Mini
severities: {sev1: Bad}
states: [open, closed]
initial: open
final: [closed]
transitions: [{trigger: close, source: open, dest: closed}]
audiences:
  public: {channels: [sms], approval: comms_lead, resolved: RESOLVED}
templates:
  note: {audience: public, body: hi}
"""


@pytest.mark.parametrize(
    ("resolved", "problem"),
    [
        ("nosuch", "unknown template 'nosuch'"),
        ("note", "template 'note' must say closing: true"),
    ],
)
def test_a_resolution_template_must_exist_and_be_closing(resolved: str, problem: str) -> None:
    with pytest.raises(PlaybookInvalid) as info:
        load_text(MINIMAL.replace("RESOLVED", resolved), file="pb.yaml")
    assert any(
        "audiences.public.resolved" in str(p) and problem in str(p) for p in info.value.problems
    )


def test_resolved_none_tells_nothing_and_the_default_is_a_closing_template() -> None:
    quiet = load_text(MINIMAL.replace("RESOLVED", "none"), file="pb.yaml")
    assert "public" not in quiet.resolved
    told = load_text(MINIMAL.replace(", resolved: RESOLVED", ""), file="pb.yaml")
    assert told.resolved["public"] == "public-resolved"
    assert told.templates["public-resolved"].closing
