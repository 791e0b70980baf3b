"""Escalation ladders, acknowledgement and cadence on a real database with a hand-moved clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.delivery.outbox import claim
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.schema import deliveries, sandbox_messages, timers
from engine.timers.schedule import fire_due
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.outbox import outbox_worker

M = timedelta(minutes=1)


def tick(svc: Crisis, clock: FakeClock, minutes: float = 0) -> int:
    clock.advance(minutes * M)
    return fire_due(svc.store, svc.timer_handlers(), now=clock.now(), node="test")


def events(svc: Crisis, iid: int, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in svc.incidents.timeline(incident_id=iid) if e.type == kind]


def page_rows(svc: Crisis, iid: int) -> list[tuple[str, str, str]]:
    d = deliveries.c
    with svc.store.engine.connect() as conn:
        return [
            (r.meta["username"], r.channel, r.status)
            for r in conn.execute(
                sa.select(deliveries).where(d.incident_id == iid, d.kind == "page").order_by(d.id)
            )
        ]


def declare_rail(svc: Crisis, severity: str = "sev1") -> int:
    return svc.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity=severity,
        title="Lille signalling",
        regions=["lille"],
    ).id


def test_a_three_step_ladder_fires_in_order_then_repeats_then_is_exhausted(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    assert tick(roster, clock) == 1
    tick(roster, clock, 9.9)
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1"]
    tick(roster, clock, 0.1)
    tick(roster, clock, 10)
    steps = events(roster, iid, "paged")
    assert [e["step"] for e in steps] == ["1.1", "1.2", "1.3"]
    assert steps[0]["to"] == ["dana/sms"]
    assert steps[1]["to"] == ["dana/sms", "dana/voice", "ed/sms", "ed/voice"]
    assert steps[2]["to"] == ["boss/voice"]
    tick(roster, clock, 10)  # round 2 starts 30 minutes in (repeat: 1)
    assert [e["step"] for e in events(roster, iid, "paged")][-1] == "2.1"
    tick(roster, clock, 30)  # 60 minutes: both rounds spent
    assert [e["step"] for e in events(roster, iid, "paged")][3:] == ["2.1", "2.2", "2.3"]
    [spent] = events(roster, iid, "escalation_exhausted")
    assert spent["notified"] == ["boss/email"]
    status = roster.incidents.escalation_status(roster.incidents.get(incident_id=iid))
    assert status == {"step": "2.3", "next_at": None, "exhausted": True, "stopped": False}


def test_acknowledgement_stops_the_ladder_and_cancels_queued_pages(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    tick(roster, clock, 10)  # step 1.2 queued pages, not yet sent
    roster.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    for _ in range(8):
        tick(roster, clock, 10)
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.2"]
    assert events(roster, iid, "escalation_exhausted") == []
    media = {n: c.medium for n, c in roster.channels.items()}
    claimed = claim(roster.store, now=clock.now(), limit=100, media=media, owners=roster.owners)
    assert {c.message.kind for c in claimed} == {"notice"}  # overdue-update reminders only
    assert {s for _, _, s in page_rows(roster, iid)} == {"cancelled"}
    with roster.store.engine.connect() as conn:
        states = {
            r.state
            for r in conn.execute(
                sa.select(timers.c.state).where(
                    timers.c.incident_id == iid, timers.c.kind != "cadence"
                )
            )
        }
    assert "pending" not in states


def test_the_until_trigger_fired_by_hand_also_stops_the_ladder(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    roster.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    tick(roster, clock, 30)
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1"]


def test_resolution_stops_ladder_and_cadence(roster: Crisis, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    roster.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    roster.incidents.fire(actor=COMMS, incident_id=iid, trigger="resolve")
    tick(roster, clock, 120)
    assert events(roster, iid, "cadence_reminder") == []
    assert roster.incidents.get(incident_id=iid).next_update_due_at is None


def test_severity_change_replans_the_ladder_from_that_moment(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster, severity="sev2")
    tick(roster, clock)
    tick(roster, clock, 7)
    roster.incidents.amend(actor=OPERATOR, incident_id=iid, severity="sev1")
    tick(roster, clock)  # the new ladder's first step is due at once
    tick(roster, clock, 5)  # the old ladder's 1.2 would be due at minute 10: it is gone
    paged = events(roster, iid, "paged")
    assert [e["step"] for e in paged] == ["1.1", "1.1"]
    assert len(events(roster, iid, "escalation_replanned")) == 1
    tick(roster, clock, 5)  # 10 minutes after the change
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.1", "1.2"]


def test_overdue_timers_fire_once_each_after_downtime(roster: Crisis, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    clock.advance(25 * M)  # every process was down for 25 minutes
    assert tick(roster, clock) == 4  # three steps and the first cadence reminder
    assert tick(roster, clock) == 0
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.2", "1.3"]


def test_cadence_reminds_then_escalates_and_a_public_update_resets_it(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster)  # sev1: an update every 20 minutes
    inc = roster.incidents.get(incident_id=iid)
    assert inc.next_update_due_at == inc.declared_at + 20 * M
    roster.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    tick(roster, clock, 20)
    [reminder] = events(roster, iid, "cadence_reminder")
    assert reminder["role"] == "comms-lead" and reminder["to"] == ["cam/sms"]
    tick(roster, clock, 20)  # a second interval: the next role named
    [escalated] = events(roster, iid, "cadence_escalated")
    assert escalated["role"] == "ops-director" and escalated["to"] == ["ed/sms"]
    roster.incidents.record_public_update(incident_id=iid)
    assert roster.incidents.get(incident_id=iid).next_update_due_at == clock.now() + 20 * M
    tick(roster, clock, 19)
    assert len(events(roster, iid, "cadence_reminder")) == 1
    tick(roster, clock, 1)
    assert len(events(roster, iid, "cadence_reminder")) == 2


def test_quiet_hours_hold_non_urgent_pages_until_they_end(roster: Crisis, clock: FakeClock) -> None:
    """site-closure pages sev3 only outside quiet hours; Dana's end at 07:00 London."""
    clock.set(datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # Saturday night before BST starts
    iid = roster.incidents.declare(
        actor=OPERATOR,
        playbook="site-closure",
        severity="sev3",
        title="Snow forecast",
        regions=["leeds"],
    ).id
    tick(roster, clock)
    [held] = events(roster, iid, "paged")
    assert held["to"] == [] and held["deferred"] == ["dana"]
    clock.set(datetime(2026, 3, 29, 5, 59, tzinfo=UTC))
    tick(roster, clock)  # the whole ladder ran overnight: Ed (not quiet) was paged twice
    overnight = events(roster, iid, "paged")
    assert [(e["step"], e["to"]) for e in overnight] == [
        ("1.1", []),
        ("1.2", ["ed/voice"]),
        ("2.1", []),
        ("2.2", ["ed/voice"]),
    ]
    clock.set(datetime(2026, 3, 29, 6, 0, tzinfo=UTC))  # 07:00 BST
    tick(roster, clock)
    morning = events(roster, iid, "paged")[4:]
    assert len(morning) == 1, "one page when quiet hours end, not a backlog"
    assert morning[0]["after_quiet_hours"] and morning[0]["to"] == ["dana/sms", "dana/voice"]


def test_sev1_pages_ignore_quiet_hours(roster: Crisis, clock: FakeClock) -> None:
    clock.set(datetime(2026, 3, 28, 23, 30, tzinfo=UTC))
    iid = roster.incidents.declare(
        actor=OPERATOR,
        playbook="site-closure",
        severity="sev1",
        title="Flooding",
        regions=["leeds"],
    ).id
    tick(roster, clock)
    assert events(roster, iid, "paged")[0]["to"] == ["dana/sms", "dana/voice"]


def test_worker_delivers_pages_through_the_sandbox(roster: Crisis, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    worker = outbox_worker(roster, clock=clock, concurrency=2)
    assert worker.run_once() == 2  # dana's page, and the notice telling the comms lead
    assert page_rows(roster, iid) == [("dana", "sms", "delivered")]
    with roster.store.engine.connect() as conn:
        [msg] = conn.execute(
            sa.select(sandbox_messages).where(sandbox_messages.c.address == "+15555550105")
        ).all()
    assert f"Reply ACK {iid}" in msg.body
    worker.stop()


def test_a_role_with_nobody_on_call_is_recorded_not_silent(
    roster: Crisis, clock: FakeClock
) -> None:
    roster.roster.roster_remove(actor=ADMIN, role="duty-manager", username="dana")
    iid = declare_rail(roster)
    tick(roster, clock)
    [paged] = events(roster, iid, "paged")
    assert paged["to"] == [] and paged["notify"] == ["role:duty-manager"]


def test_a_paged_person_may_acknowledge_without_the_operator_role(
    roster: Crisis, clock: FakeClock
) -> None:
    roster.accounts.add_user(actor=ADMIN, username="vic", role="viewer", phone="+15555550199")
    roster.roster.roster_add(actor=ADMIN, role="duty-manager", username="vic")
    iid = declare_rail(roster)
    tick(roster, clock)
    inc = roster.incidents.acknowledge(actor=Actor("vic", "viewer"), incident_id=iid, via="sms")
    assert inc.owner == "vic"
    other = declare_rail(roster)
    roster.roster.roster_remove(actor=ADMIN, role="duty-manager", username="vic")
    from engine.kernel.errors import Forbidden

    with pytest.raises(Forbidden):
        roster.incidents.acknowledge(actor=Actor("vic", "viewer"), incident_id=other)


def race_once(svc: Crisis, clock: FakeClock) -> list[str]:
    """Declare, then commit an acknowledgement and the due first step at the same instant."""
    iid = declare_rail(svc)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def step() -> None:
        barrier.wait()
        try:
            fire_due(svc.store, svc.timer_handlers(), now=clock.now(), node="t")
        except BaseException as exc:
            errors.append(exc)

    def ack() -> None:
        barrier.wait()
        try:
            svc.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=step), threading.Thread(target=ack)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fire_due(svc.store, svc.timer_handlers(), now=clock.now() + 60 * M, node="t")
    return [e.type for e in svc.incidents.timeline(incident_id=iid)]


def test_race_acknowledgement_against_a_due_step(roster: Crisis, clock: FakeClock) -> None:
    """200 trials: an ack and the due step commit concurrently; no page follows the ack."""
    for _ in range(200):
        kinds = race_once(roster, clock)
        acked = kinds.index("acknowledged")
        assert "paged" not in kinds[acked:], kinds


def notices(svc: Crisis, iid: int) -> list[str]:
    d = deliveries.c
    with svc.store.engine.connect() as conn:
        return [
            r.body
            for r in conn.execute(
                sa.select(deliveries).where(d.incident_id == iid, d.kind == "notice").order_by(d.id)
            )
        ]


def test_each_notice_says_what_it_is_about_and_never_asks_for_an_ack(
    roster: Crisis, clock: FakeClock
) -> None:
    """Issue 16: the cadence reminder read like a page ("Reply ACK 3 to acknowledge") for an
    incident already acknowledged. A notice names its purpose, with the time in UTC."""
    iid = declare_rail(roster)
    due = roster.incidents.get(incident_id=iid).next_update_due_at
    assert due is not None
    roster.incidents.acknowledge(actor=OPERATOR, incident_id=iid)
    tick(roster, clock, 20)
    tick(roster, clock, 20)
    _, reminder, escalated = notices(roster, iid)  # the first tells the comms lead of it
    assert f"a public update was due at {due:%H:%M} UTC and none has gone out" in reminder
    assert f"overdue since {due:%H:%M} UTC and comms-lead has not published one" in escalated
    assert not any("ACK" in body for body in (reminder, escalated))


def test_a_spent_ladder_tells_the_admins_it_needs_an_owner(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    clock.advance(120 * M)
    while tick(roster, clock):
        pass
    assert events(roster, iid, "escalation_exhausted")
    spent = [b for b in notices(roster, iid) if "escalation step" in b]
    assert spent and "it needs an owner" in spent[0] and "ACK" not in spent[0]


def test_the_comms_lead_is_told_on_declaration_not_paged(roster: Crisis, clock: FakeClock) -> None:
    """Issue 16: declaring paged the duty manager only, and the comms lead heard of it from
    the 20-minute cadence reminder. The playbook's stakeholders are told at once."""
    iid = declare_rail(roster)
    [declared] = events(roster, iid, "declared")
    assert declared["stakeholders"] == {"comms-lead": {"to": ["cam/sms"], "unroutable": []}}
    [body] = notices(roster, iid)
    assert "declared by olu" in body and "You are told as comms-lead" in body
    assert "ACK" not in body
    assert page_rows(roster, iid) == []  # the ladder's first step comes from its own timer
