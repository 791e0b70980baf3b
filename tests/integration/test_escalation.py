"""Escalation ladders, acknowledgement and cadence on a real database with a hand-moved clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.delivery.outbox import claim
from engine.delivery.sandbox import SandboxNotifier
from engine.delivery.worker import Worker
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.service import Service
from engine.store.tables import deliveries, sandbox_messages, timers
from engine.timers.schedule import fire_due
from tests.conftest import COMMS, OPERATOR

M = timedelta(minutes=1)


def tick(svc: Service, clock: FakeClock, minutes: float = 0) -> int:
    clock.advance(minutes * M)
    return fire_due(svc.store, svc.timer_handlers(), now=clock.now(), node="test")


def events(svc: Service, iid: int, kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in svc.timeline(incident_id=iid) if e.type == kind]


def page_rows(svc: Service, iid: int) -> list[tuple[str, str, str]]:
    d = deliveries.c
    with svc.store.engine.connect() as conn:
        return [
            (r.meta["username"], r.channel, r.status)
            for r in conn.execute(
                sa.select(deliveries).where(d.incident_id == iid, d.kind == "page").order_by(d.id)
            )
        ]


def declare_rail(svc: Service, severity: str = "sev1") -> int:
    return svc.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity=severity,
        title="Lille signalling",
        regions=["lille"],
    ).id


def test_a_three_step_ladder_fires_in_order_then_repeats_then_is_exhausted(
    roster: Service, clock: FakeClock
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
    status = roster.escalation_status(roster.get(incident_id=iid))
    assert status == {"step": "2.3", "next_at": None, "exhausted": True, "stopped": False}


def test_acknowledgement_stops_the_ladder_and_cancels_queued_pages(
    roster: Service, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    tick(roster, clock, 10)  # step 1.2 queued pages, not yet sent
    roster.acknowledge(actor=OPERATOR, incident_id=iid)
    for _ in range(8):
        tick(roster, clock, 10)
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.2"]
    assert events(roster, iid, "escalation_exhausted") == []
    media = {n: c.medium for n, c in roster.channels.items()}
    claimed = claim(roster.store, now=clock.now(), limit=100, media=media)
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
    roster: Service, clock: FakeClock
) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    roster.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    tick(roster, clock, 30)
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1"]


def test_resolution_stops_ladder_and_cadence(roster: Service, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    roster.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    roster.fire(actor=COMMS, incident_id=iid, trigger="resolve")
    tick(roster, clock, 120)
    assert events(roster, iid, "cadence_reminder") == []
    assert roster.get(incident_id=iid).next_update_due_at is None


def test_severity_change_replans_the_ladder_from_that_moment(
    roster: Service, clock: FakeClock
) -> None:
    iid = declare_rail(roster, severity="sev2")
    tick(roster, clock)
    tick(roster, clock, 7)
    roster.amend(actor=OPERATOR, incident_id=iid, severity="sev1")
    tick(roster, clock)  # the new ladder's first step is due at once
    tick(roster, clock, 5)  # the old ladder's 1.2 would be due at minute 10: it is gone
    paged = events(roster, iid, "paged")
    assert [e["step"] for e in paged] == ["1.1", "1.1"]
    assert len(events(roster, iid, "escalation_replanned")) == 1
    tick(roster, clock, 5)  # 10 minutes after the change
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.1", "1.2"]


def test_overdue_timers_fire_once_each_after_downtime(roster: Service, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    clock.advance(25 * M)  # every process was down for 25 minutes
    assert tick(roster, clock) == 4  # three steps and the first cadence reminder
    assert tick(roster, clock) == 0
    assert [e["step"] for e in events(roster, iid, "paged")] == ["1.1", "1.2", "1.3"]


def test_cadence_reminds_then_escalates_and_a_public_update_resets_it(
    roster: Service, clock: FakeClock
) -> None:
    iid = declare_rail(roster)  # sev1: an update every 20 minutes
    inc = roster.get(incident_id=iid)
    assert inc.next_update_due_at == inc.declared_at + 20 * M
    roster.acknowledge(actor=OPERATOR, incident_id=iid)
    tick(roster, clock, 20)
    [reminder] = events(roster, iid, "cadence_reminder")
    assert reminder["role"] == "comms-lead" and reminder["to"] == ["cam/sms"]
    tick(roster, clock, 20)  # a second interval: the next role named
    [escalated] = events(roster, iid, "cadence_escalated")
    assert escalated["role"] == "ops-director" and escalated["to"] == ["ed/sms"]
    roster.record_public_update(incident_id=iid)
    assert roster.get(incident_id=iid).next_update_due_at == clock.now() + 20 * M
    tick(roster, clock, 19)
    assert len(events(roster, iid, "cadence_reminder")) == 1
    tick(roster, clock, 1)
    assert len(events(roster, iid, "cadence_reminder")) == 2


def test_quiet_hours_hold_non_urgent_pages_until_they_end(
    roster: Service, clock: FakeClock
) -> None:
    """site-closure pages sev3 only outside quiet hours; Dana's end at 07:00 London."""
    clock.set(datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # Saturday night before BST starts
    iid = roster.declare(
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


def test_sev1_pages_ignore_quiet_hours(roster: Service, clock: FakeClock) -> None:
    clock.set(datetime(2026, 3, 28, 23, 30, tzinfo=UTC))
    iid = roster.declare(
        actor=OPERATOR,
        playbook="site-closure",
        severity="sev1",
        title="Flooding",
        regions=["leeds"],
    ).id
    tick(roster, clock)
    assert events(roster, iid, "paged")[0]["to"] == ["dana/sms", "dana/voice"]


def test_worker_delivers_pages_through_the_sandbox(roster: Service, clock: FakeClock) -> None:
    iid = declare_rail(roster)
    tick(roster, clock)
    media = {n: c.medium for n, c in roster.channels.items()}
    sandbox = SandboxNotifier(store=roster.store, clock=clock)
    worker = Worker(
        store=roster.store,
        notifiers={"sms": sandbox, "voice": sandbox},
        media=media,
        clock=clock,
        concurrency=2,
    )
    assert worker.run_once() == 1
    assert page_rows(roster, iid) == [("dana", "sms", "delivered")]
    with roster.store.engine.connect() as conn:
        msg = conn.execute(sa.select(sandbox_messages)).one()
    assert msg.address == "+15555550105" and f"Reply ACK {iid}" in msg.body
    worker.stop()


def test_a_role_with_nobody_on_call_is_recorded_not_silent(
    roster: Service, clock: FakeClock
) -> None:
    roster.roster_remove(role="duty-manager", username="dana")
    iid = declare_rail(roster)
    tick(roster, clock)
    [paged] = events(roster, iid, "paged")
    assert paged["to"] == [] and paged["notify"] == ["role:duty-manager"]


def test_a_paged_person_may_acknowledge_without_the_operator_role(
    roster: Service, clock: FakeClock
) -> None:
    roster.add_user(username="vic", role="viewer", phone="+15555550199")
    roster.roster_add(role="duty-manager", username="vic")
    iid = declare_rail(roster)
    tick(roster, clock)
    inc = roster.acknowledge(actor=Actor("vic", "viewer"), incident_id=iid, via="sms")
    assert inc.owner == "vic"
    other = declare_rail(roster)
    roster.roster_remove(role="duty-manager", username="vic")
    from engine.kernel.errors import Forbidden

    with pytest.raises(Forbidden):
        roster.acknowledge(actor=Actor("vic", "viewer"), incident_id=other)


def race_once(svc: Service, clock: FakeClock) -> list[str]:
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
            svc.acknowledge(actor=OPERATOR, incident_id=iid)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=step), threading.Thread(target=ack)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fire_due(svc.store, svc.timer_handlers(), now=clock.now() + 60 * M, node="t")
    return [e.type for e in svc.timeline(incident_id=iid)]


def test_race_acknowledgement_against_a_due_step(roster: Service, clock: FakeClock) -> None:
    """200 trials: an ack and the due step commit concurrently; no page follows the ack."""
    for _ in range(200):
        kinds = race_once(roster, clock)
        acked = kinds.index("acknowledged")
        assert "paged" not in kinds[acked:], kinds
