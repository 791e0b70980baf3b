"""Drafts, approvals and resolution under sloppy and hostile use (issue 13, items 2–4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.errors import Conflict, Forbidden, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.schema import deliveries, timers
from engine.timers.schedule import fire_due
from tests.conftest import COMMS, OPERATOR, VIEWER
from tests.integration.test_updates import COMMS2, rail


def resolve(svc: Crisis, iid: int) -> None:
    svc.incidents.fire(actor=COMMS, incident_id=iid, trigger="acknowledge")
    svc.incidents.fire(actor=COMMS, incident_id=iid, trigger="resolve")


def test_resolving_withdraws_pending_drafts_and_they_can_no_longer_be_approved(
    service: Crisis,
) -> None:
    """Item 2: a draft left pending at resolution never reaches anyone afterwards."""
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] == "pending_approval"
    resolve(service, iid)
    assert service.updates.get_update(update_id=u["id"])["status"] == "withdrawn"
    [ev] = [e for e in service.incidents.timeline(incident_id=iid) if e.type == "withdrawn"]
    assert ev.data["update"] == u["id"]
    with pytest.raises(Conflict, match="resolved"):
        service.updates.approve_update(actor=COMMS2, update_id=u["id"], revision=1)
    with pytest.raises(Conflict):
        service.updates.revise_update(actor=OPERATOR, update_id=u["id"], body="Late news")
    with service.store.engine.connect() as conn:
        sent = conn.execute(
            sa.select(sa.func.count()).where(deliveries.c.ref_id == u["id"])
        ).scalar_one()
        # Its approval timeout is moot: firing it would page about a closed incident.
        due = conn.execute(
            sa.select(timers.c.state).where(timers.c.kind == "approval_due")
        ).scalars()
        assert sent == 0
    assert all(s in ("pending", "cancelled", "done") for s in due)
    with pytest.raises(ValidationFailed) as refused:
        service.updates.draft_update(
            actor=OPERATOR, incident_id=iid, audience="staff", body="Later"
        )
    assert "resolved" in refused.value.details["incident"]


def test_a_closing_update_is_drafted_and_approved_after_resolution(service: Crisis) -> None:
    """Item 2: the playbook's closing template is the one update allowed after the end."""
    iid = rail(service)
    resolve(service, iid)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="all-clear"
    )
    assert u["policy_violations"] == []  # a last word need not promise a next update
    assert service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)["status"] == (
        "sending"
    )


def test_the_withdrawn_draft_times_out_without_paging(service: Crisis, clock: FakeClock) -> None:
    """Item 2: the approval timer of a withdrawn draft does nothing when it falls due."""
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    resolve(service, iid)
    clock.advance(timedelta(hours=2))
    fire_due(service.store, service.timer_handlers(), now=clock.now(), node="t")
    with service.store.engine.connect() as conn:
        outcomes = conn.execute(
            sa.select(timers.c.outcome).where(timers.c.kind == "approval_due")
        ).scalars()
        assert "escalated" not in set(outcomes)
    assert service.updates.get_update(update_id=u["id"])["status"] == "withdrawn"


def test_a_rewriter_cannot_approve_a_colleagues_draft_alone(service: Crisis) -> None:
    """Item 3: every person who wrote a revision is an author under the two-person rule."""
    iid = rail(service)
    u = service.updates.draft_update(
        actor=COMMS, incident_id=iid, audience="passengers", template="holding"
    )
    french = "Les trains sont arrêtés près de Lille. Prochaine information à 10:30 CET."
    service.updates.revise_update(
        actor=COMMS2, update_id=u["id"],
        body="Trains are stopped near Lille. Next update 10:30 GMT.",
        variant_texts={"fr": dict.fromkeys(u["variants"]["fr"], french)},
    )  # fmt: skip
    with pytest.raises(Forbidden, match="two-person"):
        service.updates.approve_update(actor=COMMS2, update_id=u["id"], revision=2)
    with pytest.raises(Forbidden, match="two-person"):
        service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=2)
    third = Actor("dee", "comms_lead")
    assert service.updates.approve_update(actor=third, update_id=u["id"], revision=2)["status"] in (
        "sending",
        "approved",
    )


def test_a_viewer_cannot_approve_an_ungated_update_and_policy_applies(service: Crisis) -> None:
    """Item 4: ``approval: none`` is not "anyone may publish", and the policy still binds."""
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience="staff",
        body="No comment on Project Falcon: the outage was caused by a cable theft.",
    )
    assert u["status"] == "pending_approval" and u["policy_violations"]
    with pytest.raises(Forbidden):
        service.updates.approve_update(actor=VIEWER, update_id=u["id"], revision=1)
    with pytest.raises(ValidationFailed, match="policy"):
        service.updates.approve_update(actor=OPERATOR, update_id=u["id"], revision=1)
    service.updates.approve_update(
        actor=COMMS, update_id=u["id"], revision=1, override_reason="internal only"
    )
    [ev] = [e for e in service.incidents.timeline(incident_id=iid) if e.type == "approved"]
    assert ev.actor == COMMS.name and ev.data["override"] == "internal only"


def test_a_monitoring_draft_rewritten_by_one_person_needs_another_to_approve(
    service: Crisis,
) -> None:
    """Item 3: the same for a draft monitoring wrote and one comms lead rewrote."""
    from engine.monitoring.alerts import AlertIn

    robot = Actor("alertmanager", "automation")
    labels = {"alertname": "SignallingFailure", "severity": "critical", "line": "lille"}
    [out] = service.monitoring.ingest(
        actor=robot,
        source="alertmanager",
        group_key="g",
        alerts=[AlertIn("firing", labels, "fp", "2026-11-23T09:00:00Z")],
    )
    [draft] = service.updates.list_updates(incident_id=out.incident_id)
    assert draft["author"] == "alertmanager" and draft["status"] == "pending_approval"
    french = "Trains arrêtés près de Lille. Prochaine information à 10:30 CET."
    service.updates.revise_update(
        actor=COMMS, update_id=draft["id"],
        body="Trains stopped near Lille. Next update 10:30 GMT.",
        variant_texts={"fr": dict.fromkeys(draft["variants"]["fr"], french)},
    )  # fmt: skip
    with pytest.raises(Forbidden, match="two-person"):
        service.updates.approve_update(actor=COMMS, update_id=draft["id"], revision=2)
    service.updates.approve_update(actor=COMMS2, update_id=draft["id"], revision=2)


def test_declare_and_amend_share_one_title_rule(service: Crisis) -> None:
    """Issue 21: the title was validated twice, and the two had drifted."""
    iid = rail(service)
    for bad in ("   ", "x" * 301, "bell \u0007"):
        with pytest.raises(ValidationFailed) as declared:
            service.incidents.declare(
                actor=OPERATOR, playbook="rail-disruption", severity="sev2", title=bad
            )
        with pytest.raises(ValidationFailed) as amended:
            service.incidents.amend(actor=OPERATOR, incident_id=iid, title=bad)
        assert declared.value.details["title"] == amended.value.details["title"]
    with pytest.raises(ValidationFailed) as sev:
        service.incidents.amend(actor=OPERATOR, incident_id=iid, severity="sev9")
    assert "choose sev1, sev2, sev3" in sev.value.details["severity"]


def test_declare_and_amend_share_one_summary_rule(service: Crisis) -> None:
    """Issue 21: amend checked the summary's length only; declare also refused characters no
    feed can carry. One rule now serves both."""
    iid = rail(service)
    for bad in ("x" * 5001, "bell \u0007"):
        with pytest.raises(ValidationFailed) as declared:
            service.incidents.declare(
                actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t", summary=bad
            )
        with pytest.raises(ValidationFailed) as amended:
            service.incidents.amend(actor=OPERATOR, incident_id=iid, summary=bad)
        assert declared.value.details["summary"] == amended.value.details["summary"]
