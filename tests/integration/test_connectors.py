"""Freezes reach marketing platforms: scan, pause, confirm, rescan, lift under each policy,
review, faults and crashes — the engine against the sandbox platform (the port's fake, which
passes the same contract tests as the real adapters: tests/integration/test_platform_contract.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.delivery import outbox
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.schema import deliveries
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from notifiers.marketing.sandbox import SandboxPlatform
from tests.conftest import COMMS, OPERATOR
from tests.connectors import config_text as connectors_config
from tests.connectors import crisis_with
from tests.outbox import drain, outbox_worker

CONNECTORS = """
connectors:
  crm:
    kind: sandbox
    channel: newsletter
    tags: {promo: {category: [promo, sale]}}
    regions: {lille: {list: [lille-subs]}, paris: {list: [paris-subs]}}
    rescan_every: 2m
    confirm_within: 5m
"""


def config_text() -> str:
    return connectors_config(CONNECTORS)


@pytest.fixture
def platform() -> SandboxPlatform:
    return SandboxPlatform("crm")


@pytest.fixture
def crisis(store: Store, catalog: Catalog, clock: FakeClock) -> Crisis:
    return crisis_with(CONNECTORS, store=store, catalog=catalog, clock=clock)


def run(crisis: Crisis, platform: SandboxPlatform) -> int:
    return drain(outbox_worker(crisis, notifiers={"crm": ConnectorNotifier(platform)}))


def seed(platform: SandboxPlatform, clock: FakeClock) -> None:
    now = clock.now()
    promo, lille, paris = {"category": ["promo"]}, ["lille-subs"], ["paris-subs"]
    platform.schedule("a", title="Lille weekend", send_at=now + timedelta(hours=3),
                      labels=promo | {"list": lille})  # fmt: skip
    platform.schedule("b", title="Sale everywhere", send_at=now + timedelta(hours=1),
                      labels={"category": ["sale"]})  # fmt: skip
    platform.schedule("c", title="Timetable news", send_at=now + timedelta(hours=2),
                      labels={"category": ["news"], "list": lille})  # fmt: skip
    platform.schedule("d", title="Paris promo", send_at=now + timedelta(hours=2),
                      labels=promo | {"list": paris})  # fmt: skip


def declare(crisis: Crisis) -> int:
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stuck",
        regions=["Lille"],
    )  # fmt: skip
    return inc.id


def events(crisis: Crisis, incident_id: int, kind: str) -> list[dict]:
    return [e.data for e in crisis.incidents.timeline(incident_id=incident_id) if e.type == kind]


def test_a_freeze_pauses_what_its_scope_holds_soonest_first_and_confirms(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    seed(platform, clock)
    incident_id = declare(crisis)
    (fid,) = crisis.calendar.freeze_ids(incident_id=incident_id)
    run(crisis, platform)
    assert platform.active() == ["c", "d"]  # news and Paris go on; promo in Lille is held
    with crisis.store.engine.connect() as conn:  # queued (and so claimed) soonest first
        queued = conn.execute(
            sa.select(deliveries.c.meta)
            .where(deliveries.c.body == "pause")
            .order_by(deliveries.c.id)
        ).scalars()
        assert [m["item"]["ref"] for m in queued] == ["b", "a"]
    items = crisis.platforms.items(freeze_id=fid)
    assert [(i["ref"], i["state"], i["regions"]) for i in items] == [
        ("b", "paused", []),
        ("a", "paused", ["lille"]),
    ]
    (run_,) = crisis.calendar.get_freeze(freeze_id=fid)["connectors"]
    assert run_["confirmed_at"] is not None and run_["failing"] is None
    assert run_["text"] == "crm (Sandbox platform): 2 of 2 scheduled items paused"
    (confirmed,) = events(crisis, incident_id, "connector_confirmed")
    assert confirmed["text"] == run_["text"]
    assert events(crisis, incident_id, "froze")[0]["connectors"] == ["crm"]


def test_rescans_catch_what_marketing_schedules_or_reschedules_during_the_freeze(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    seed(platform, clock)
    incident_id = declare(crisis)
    (fid,) = crisis.calendar.freeze_ids(incident_id=incident_id)
    run(crisis, platform)
    platform.schedule("e", title="New Lille offer", send_at=clock.now() + timedelta(hours=5),
                      labels={"category": ["promo"], "list": ["lille-subs"]})  # fmt: skip
    platform.reschedule("a", clock.now() + timedelta(hours=6))  # marketing put it back
    clock.advance(timedelta(minutes=2, seconds=1))
    run(crisis, platform)
    assert platform.active() == ["c", "d"]
    states = {i["ref"]: (i["state"], i["note"]) for i in crisis.platforms.items(freeze_id=fid)}
    assert states["e"] == ("paused", None)
    assert states["a"][0] == "paused" and "put back in the schedule" in states["a"][1]


def manual_freeze(crisis: Crisis, on_lift: str) -> int:
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift=on_lift
    )
    return int(f["id"])


def test_lift_resume_restores_future_items_and_sends_past_changed_and_deleted_to_review(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    now = clock.now()
    promo = {"category": ["promo"]}
    for ref, hours in (("future", 6), ("soon", 1), ("edited", 6), ("deleted", 6)):
        platform.schedule(ref, title=ref, send_at=now + timedelta(hours=hours), labels=promo)
    platform.schedule("flow", title="Welcome flow", send_at=None, kind="flow", labels=promo)
    fid = manual_freeze(crisis, "resume")
    run(crisis, platform)
    assert platform.active() == []
    platform.edit("edited", body="a new offer written during the freeze")
    platform.delete("deleted")
    clock.advance(timedelta(hours=2))  # "soon" was due an hour ago
    out = crisis.calendar.lift_freeze(actor=COMMS, freeze_id=fid, reason="all clear")
    assert out["connectors"][0]["connector"] == "crm"
    run(crisis, platform)
    assert platform.active() == ["flow", "future"]  # back as they were
    assert platform.entries["future"].send_at == now + timedelta(hours=6)
    states = {i["ref"]: (i["state"], i["note"]) for i in crisis.platforms.items(freeze_id=fid)}
    assert states["future"] == ("restored", None) and states["flow"] == ("restored", None)
    assert states["soon"] == ("review", None)
    assert states["edited"][0] == "review" and "edited on the platform" in states["edited"][1]
    assert states["deleted"][0] == "gone" and "deleted" in states["deleted"][1]
    assert [op for op, ref in platform.calls if ref == "edited"] == ["pause", "look"]


def test_lift_discard_cancels_on_the_platform_and_review_keeps_everything_waiting(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    now = clock.now()
    platform.schedule(
        "x", title="x", send_at=now + timedelta(hours=6), labels={"category": ["promo"]}
    )
    fid = manual_freeze(crisis, "discard")
    run(crisis, platform)
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=fid, reason="all clear")
    run(crisis, platform)
    assert platform.entries["x"].cancelled and not platform.entries["x"].active
    platform.schedule(
        "y", title="y", send_at=now + timedelta(hours=6), labels={"category": ["promo"]}
    )
    fid = manual_freeze(crisis, "review")
    run(crisis, platform)
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=fid, reason="all clear")
    run(crisis, platform)
    assert [i["ref"] for i in crisis.platforms.in_review()] == ["y"]
    assert not platform.entries["y"].active  # nothing goes out until a person decides


def test_review_publishes_reschedules_or_cancels_through_the_connector(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    now = clock.now()
    for ref in ("p", "r", "k"):
        platform.schedule(
            ref, title=ref, send_at=now + timedelta(hours=6), labels={"category": ["promo"]}
        )
    fid = manual_freeze(crisis, "review")
    run(crisis, platform)
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=fid, reason="all clear")
    ids = {i["ref"]: i["id"] for i in crisis.platforms.in_review()}
    crisis.platforms.review_item(actor=COMMS, item_id=ids["p"], action="publish")
    later = now + timedelta(days=1)
    crisis.platforms.review_item(actor=COMMS, item_id=ids["r"], action="reschedule", send_at=later)
    crisis.platforms.review_item(actor=COMMS, item_id=ids["k"], action="cancel")
    run(crisis, platform)
    assert platform.entries["p"].active and platform.entries["p"].send_at == now + timedelta(
        hours=6
    )
    assert platform.entries["r"].active and platform.entries["r"].send_at == later
    assert platform.entries["k"].cancelled
    from engine.kernel.errors import Conflict, Forbidden

    with pytest.raises(Conflict):
        crisis.platforms.review_item(actor=COMMS, item_id=ids["p"], action="publish")
    with pytest.raises(Forbidden):
        crisis.platforms.review_item(actor=OPERATOR, item_id=ids["p"], action="cancel")


def test_a_platform_down_at_first_is_retried_with_retry_after_and_the_timeline_tells_it(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    seed(platform, clock)
    platform.fail_next(503, 429, retry_after=30)
    platform.fail_next(401)
    incident_id = declare(crisis)
    (fid,) = crisis.calendar.freeze_ids(incident_id=incident_id)
    run(crisis, platform)
    (run_,) = crisis.calendar.get_freeze(freeze_id=fid)["connectors"]
    assert run_["failing"] == "crm answered 503" and run_["confirmed_at"] is None
    assert "failing — crm answered 503, retrying" in run_["text"]
    for _ in range(6):  # backoff: at most a minute here; the 429 asks for 30 s
        clock.advance(timedelta(minutes=1))
        run(crisis, platform)
    assert platform.active() == ["c", "d"]
    (run_,) = crisis.calendar.get_freeze(freeze_id=fid)["connectors"]
    assert run_["failing"] is None and run_["confirmed_at"] is not None
    (failing,) = events(crisis, incident_id, "connector_failing")  # told once, not per retry
    assert "503" in failing["text"]
    assert len(events(crisis, incident_id, "connector_confirmed")) == 1


def test_a_pause_refused_for_good_and_an_unconfirmed_freeze_alert_the_comms_lead(
    roster: Crisis, store: Store, catalog: Catalog, clock: FakeClock, platform: SandboxPlatform
) -> None:
    crisis = crisis_with(CONNECTORS, store=store, catalog=catalog, clock=clock)
    seed(platform, clock)
    incident_id = declare(crisis)
    run(crisis, platform)  # the scan queues two pauses, which ran in the same drain
    platform.schedule("z", title="Late promo", send_at=clock.now() + timedelta(hours=1),
                      labels={"category": ["promo"]})  # fmt: skip
    platform.fail_next(400, on="pause")  # the platform refuses this pause outright
    clock.advance(timedelta(minutes=2, seconds=1))
    run(crisis, platform)
    (failed,) = events(crisis, incident_id, "connector_failed")
    assert "could not pause 'Late promo'" in failed["text"]
    with store.engine.connect() as conn:
        notices = conn.execute(
            sa.select(deliveries.c.body).where(
                deliveries.c.kind == "notice", deliveries.c.body.contains("could not pause")
            )
        ).all()
    assert notices  # the comms lead's phone (Cam, by SMS)


def test_a_connector_that_never_confirms_alerts_the_comms_lead_after_confirm_within(
    roster: Crisis, store: Store, catalog: Catalog, clock: FakeClock, platform: SandboxPlatform
) -> None:
    crisis = crisis_with(CONNECTORS, store=store, catalog=catalog, clock=clock)
    seed(platform, clock)
    platform.fail_next(*([503] * 200))
    incident_id = declare(crisis)
    for _ in range(6):
        clock.advance(timedelta(minutes=1))
        run(crisis, platform)
    (unconfirmed,) = events(crisis, incident_id, "connector_unconfirmed")
    assert unconfirmed["text"].startswith("crm (Sandbox platform) has not confirmed freeze")
    assert "failing — crm answered 503" in unconfirmed["text"]
    with store.engine.connect() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).where(
                deliveries.c.kind == "notice", deliveries.c.body.contains("has not confirmed")
            )
        ).scalar()


def test_a_worker_killed_mid_job_pauses_once_and_restores_once(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    now = clock.now()
    platform.schedule("once", title="once", send_at=now + timedelta(hours=6),
                      labels={"category": ["promo"]})  # fmt: skip
    fid = manual_freeze(crisis, "resume")
    run(crisis, platform)  # scanned and paused
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=fid, reason="all clear")
    # A worker claims the restore, the platform restores, and the worker dies before it can
    # record it: the lease runs out and another worker takes the job again.
    claimed = outbox.claim(crisis.store, now=clock.now(), limit=10, media={"crm": "connector"},
                           owners=crisis.owners)  # fmt: skip
    (job,) = [c for c in claimed if c.message.meta.get("op") == "restore"]
    ConnectorNotifier(platform).send(job.message)
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    run(crisis, platform)
    assert [op for op, ref in platform.calls if op in ("pause", "restore")] == ["pause", "restore"]
    (item,) = crisis.platforms.items(freeze_id=fid)
    assert item["state"] == "restored" and platform.active() == ["once"]


def test_a_worker_killed_mid_pause_leaves_it_paused_once(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    """The platform paused, the worker died before recording it: the lease runs out, another
    worker pauses again (a no-op on the platform) and records it once."""
    platform.schedule("p", title="p", send_at=clock.now() + timedelta(hours=6),
                      labels={"category": ["promo"]})  # fmt: skip
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift="resume"
    )

    def claim() -> list[outbox.Claimed]:
        media = {"crm": "connector"}
        return outbox.claim(crisis.store, now=clock.now(), limit=10, media=media,
                            owners=crisis.owners)  # fmt: skip

    (scan,) = claim()
    outbox.record_success(
        crisis.store, scan, ConnectorNotifier(platform).send(scan.message), now=clock.now(),
        owners=crisis.owners,
    )  # fmt: skip
    (pause,) = [c for c in claim() if c.message.body == "pause"]
    ConnectorNotifier(platform).send(pause.message)  # done on the platform; then the crash
    assert platform.active() == []
    clock.advance(outbox.LEASE + timedelta(seconds=1))
    run(crisis, platform)
    (item,) = crisis.platforms.items(freeze_id=f["id"])
    assert item["state"] == "paused" and platform.active() == []
    assert [op for op, _ in platform.calls].count("pause") == 2  # asked twice, paused once
    (r,) = crisis.calendar.get_freeze(freeze_id=f["id"])["connectors"]
    assert r["confirmed_at"] is not None and r["items"] == {"paused": 1}


def test_a_platform_down_for_the_first_minute_is_confirmed_soon_after_it_returns(
    crisis: Crisis, platform: SandboxPlatform, clock: FakeClock
) -> None:
    seed(platform, clock)
    start = clock.now()
    down = True

    real = platform._call  # every call fails while the platform is down

    def call(op: str, ref: str) -> None:
        if down:
            platform.calls.append((op, ref))
            raise outbox_error()
        real(op, ref)

    platform._call = call  # type: ignore[method-assign]
    incident_id = declare(crisis)
    (fid,) = crisis.calendar.freeze_ids(incident_id=incident_id)
    confirmed_at = None
    while clock.now() < start + timedelta(minutes=10):
        down = clock.now() < start + timedelta(minutes=1)
        run(crisis, platform)
        (r,) = crisis.calendar.get_freeze(freeze_id=fid)["connectors"]
        if r["confirmed_at"] is not None:
            confirmed_at = clock.now()
            break
        clock.advance(timedelta(seconds=5))
    assert confirmed_at is not None and confirmed_at - start < timedelta(minutes=3)
    assert platform.active() == ["c", "d"]
    assert [ref for op, ref in platform.calls if op == "pause"].count("a") == 1
    texts = [e["text"] for e in events(crisis, incident_id, "connector_failing")]
    assert texts == ["crm (Sandbox platform): failing — crm answered 503, retrying"]
    assert len(events(crisis, incident_id, "connector_confirmed")) == 1


def outbox_error() -> Exception:
    from notifiers.marketing.base import http_failure

    return http_failure("crm", 503)


def test_a_freeze_made_by_hand_that_never_confirms_alerts_whoever_is_comms_lead(
    roster: Crisis, store: Store, catalog: Catalog, clock: FakeClock, platform: SandboxPlatform
) -> None:
    crisis = crisis_with(CONNECTORS, store=store, catalog=catalog, clock=clock)
    seed(platform, clock)
    platform.fail_next(*([503] * 200))
    manual_freeze(crisis, "review")
    for _ in range(6):
        clock.advance(timedelta(minutes=1))
        run(crisis, platform)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.address, deliveries.c.body).where(
                deliveries.c.kind == "notice", deliveries.c.body.contains("has not confirmed")
            )
        ).all()
    assert [r.address for r in rows] == ["+15555550102"]  # Cam, the comms lead, by SMS
    assert rows[0].body.startswith("Freeze 1 (storm): crm (Sandbox platform) has not confirmed")
