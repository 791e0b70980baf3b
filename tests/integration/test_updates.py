"""Operational updates on a real database: draft, policy, approval, publishing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.errors import Forbidden, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.schema import deliveries, sandbox_messages, status_entries
from engine.updates.flow import StaleRevision
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.outbox import drain, outbox_worker

COMMS2 = Actor("chris", "comms_lead")


def rail(svc: Crisis, severity: str = "sev2") -> int:
    return svc.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity=severity,
        title="Signalling failure",
        regions=["lille"],
    ).id


def test_template_renders_per_channel_and_locale(service: Crisis, clock: FakeClock) -> None:
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding", locale="fr"
    )
    assert u["channels"] == ["sms", "email", "twitter", "status_page"]
    sms = u["rendered"]["sms"]
    assert sms.startswith("Nous savons que les services sur lille sont perturbés")
    # sev2 cadence is 45 min: 09:45 UTC, which the French text gives in Paris time (CET).
    assert clock.now().hour == 9 and "Prochaine information à 10:45 CET" in sms
    assert u["segments"]["sms"] == 2  # 174 GSM-7 characters (é and à are in GSM-7): 2 x 153
    assert u["status"] == "pending_approval" and u["policy_violations"] == []


def test_the_preapproved_holding_statement_goes_out_at_sev1(service: Crisis) -> None:
    iid = rail(service, "sev1")
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] == "sending" and u["approvals"] == []
    approved = [e for e in service.incidents.timeline(incident_id=iid) if e.type == "approved"]
    assert approved[0].data["preapproved"] is True
    assert service.incidents.get(incident_id=iid).last_public_update_at is not None


def test_policy_violations_block_approval_unless_overridden(service: Crisis) -> None:
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience="passengers",
        body="No comment. The outage was caused by a cable theft.",
    )
    rules = {v["rule"] for v in u["policy_violations"]}
    assert rules == {"forbid", "public_requires"}
    with pytest.raises(ValidationFailed, match="breaks the playbook's policy"):
        service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    done = service.updates.approve_update(
        actor=COMMS,
        update_id=u["id"],
        revision=1,
        override_reason="agreed with legal: cause is public",
    )
    assert done["status"] == "sending"
    [ev] = [e for e in service.incidents.timeline(incident_id=iid) if e.type == "approved"]
    assert ev.data["override"] == "agreed with legal: cause is public"


def test_two_person_rule_and_revision_pinning(service: Crisis) -> None:
    iid = rail(service)
    body = "Trains on the Lille line are stopped. Next update by 10:00 GMT."
    u = service.updates.draft_update(actor=COMMS, incident_id=iid, audience="passengers", body=body)
    with pytest.raises(Forbidden, match="two-person"):
        service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], body=body.replace("stopped", "held at signals")
    )
    with pytest.raises(StaleRevision):
        service.updates.approve_update(actor=COMMS2, update_id=u["id"], revision=1)
    out = service.updates.approve_update(actor=COMMS2, update_id=u["id"], revision=2)
    assert out["status"] == "sending" and out["approvals"][0]["revision"] == 2
    assert "held at signals" in out["rendered"]["twitter"]


def test_only_the_audiences_channels_carry_an_update(service: Crisis) -> None:
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", body="Next update by 10:00 GMT."
    )
    with pytest.raises(ValidationFailed, match="only the audience's channels"):
        service.updates.revise_update(
            actor=OPERATOR, update_id=u["id"], channel_texts={"newsletter": "promo"}
        )


def test_legal_approves_regulator_notices_through_the_roster(service: Crisis) -> None:
    from engine.paging.rosterdb import parse_roster

    service.roster.load_roster(
        actor=ADMIN,
        seed=parse_roster(
            "people:\n  hana: {name: Hana Legal, email: hana@example.org, role: viewer}\n"
            "roles:\n  legal: {members: [hana]}\n",
            file="r.yaml",
        ),
    )
    iid = service.incidents.declare(
        actor=OPERATOR,
        playbook="data-breach",
        severity="sev2",
        title="Exposed export",
        regions=[],
        summary="A CSV was public.",
    ).id
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="regulator", template="regulator-initial"
    )
    with pytest.raises(Forbidden, match="needs the legal role"):
        service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    out = service.updates.approve_update(
        actor=Actor("hana", "viewer"), update_id=u["id"], revision=1
    )
    assert out["status"] == "partially_failed"  # no regulator subscribers: nobody reached
    assert [e.type for e in service.incidents.timeline(incident_id=iid)][-1] == "no_recipients"


def test_publishing_fans_out_and_reports_progress(service: Crisis, clock: FakeClock) -> None:
    for i, region in enumerate(["lille", "lille", "paris", None]):
        service.audience.add_subscriber(
            actor=ADMIN, audience="passengers", phone=f"+1555555020{i}", region=region
        )
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience="passengers",
        body="Trains are moving again. Next update by 11:00 GMT.",
    )
    out = service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    # 3 SMS (lille twice, no region once; paris is out of scope) + twitter + status page
    assert out["deliveries"] == {"pending": 5, "delivered": 0, "failed": 0, "dead": 0}
    drain(outbox_worker(service, clock=clock, status_page=True))
    done = service.updates.get_update(update_id=u["id"])
    assert done["status"] == "sent" and done["deliveries"]["delivered"] == 5
    with service.store.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(sandbox_messages)).scalar_one() == 4
        )
        assert (
            conn.execute(sa.select(status_entries.c.body))
            .scalar_one()
            .startswith("Trains are moving again")
        )
        kinds = {r.kind for r in conn.execute(sa.select(deliveries.c.kind))}
    assert "update" in kinds
    inc = service.incidents.get(incident_id=iid)
    assert inc.next_update_due_at == inc.last_public_update_at + timedelta(minutes=45)


def test_reject_needs_a_reason_and_a_comms_lead(service: Crisis) -> None:
    iid = rail(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", body="Next update by 10:00 GMT."
    )
    with pytest.raises(Forbidden):
        service.updates.reject_update(actor=OPERATOR, update_id=u["id"], reason="no")
    out = service.updates.reject_update(actor=COMMS, update_id=u["id"], reason="tone is wrong")
    assert out["status"] == "rejected" and out["reject_reason"] == "tone is wrong"
