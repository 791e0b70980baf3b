"""The promo freeze on a real database: the Eurostar scenario, imports, lifting, reviewing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.errors import Conflict, Forbidden, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.schema import deliveries, sandbox_messages
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.outbox import drain, outbox_worker

MARKETER = Actor("mia", "marketer")
ROBOT = Actor("alertmanager", "automation")
M = timedelta(minutes=1)


def post(
    svc: Crisis,
    channel: str,
    body: str,
    minutes: int,
    tags: list[str],
    regions: list[str] | None = None,
) -> int:
    at = (svc.clock.now() + minutes * M).isoformat()
    return int(
        svc.calendar.create_post(
            actor=MARKETER,
            fields={
                "channel": channel,
                "body": body,
                "publish_at": at,
                "tags": tags,
                "regions": regions or [],
            },
        )["id"]
    )


def state(svc: Crisis, pid: int) -> str:
    return str(svc.calendar.get_post(post_id=pid)["state"])


def deliver(svc: Crisis, clock: FakeClock) -> list[Any]:
    drain(outbox_worker(svc, clock=clock, concurrency=2))
    with svc.store.engine.connect() as conn:
        return conn.execute(sa.select(sandbox_messages).order_by(sandbox_messages.c.id)).all()


def test_the_eurostar_scenario(service: Crisis, clock: FakeClock) -> None:
    """Promos on social and the newsletter are held from declaration; operations go on."""
    svc = service
    early = post(svc, "twitter", "Mince pies on board all December!", 10, ["promo"])
    gift = post(svc, "newsletter", "Europe: the ideal Christmas gift", 120, ["promo", "xmas"])
    fb = post(svc, "facebook", "Win a trip to Paris", 180, ["promo"], ["lille"])
    works = post(
        svc,
        "twitter",
        "Engineering works this weekend: check before you travel",
        150,
        ["operational"],
    )
    london = post(svc, "twitter", "London Christmas market tips", 160, ["promo"], ["london"])
    clock.advance(15 * M)
    assert svc.calendar.publish_due() == 1 and state(svc, early) == "published"
    assert [m.body for m in deliver(svc, clock)] == ["Mince pies on board all December!"]

    inc = svc.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev1",
        title="Five trains stopped in the Channel Tunnel",
        regions=["lille", "calais"],
    )
    [freeze] = svc.calendar.list_freezes(active=True)
    assert freeze["incident_id"] == inc.id and freeze["created_by"] == "playbook"
    assert freeze["scope"]["regions"] == ["lille", "calais"]

    clock.advance(3 * 60 * M)  # the newsletter fell due at 22:02, mid-crisis
    assert svc.calendar.publish_due() == 4
    assert (state(svc, gift), state(svc, fb)) == ("held", "held")
    assert state(svc, works) == "published"  # operational posts keep flowing
    assert state(svc, london) == "published"  # another region's promo is not in scope
    sent = deliver(svc, clock)
    bodies = [m.body for m in sent][1:]
    assert "Europe: the ideal Christmas gift" not in bodies and "Win a trip to Paris" not in bodies
    assert "Engineering works this weekend: check before you travel" in bodies

    svc.incidents.fire(actor=OPERATOR, incident_id=inc.id, trigger="acknowledge")
    svc.incidents.fire(actor=COMMS, incident_id=inc.id, trigger="resolve")
    with pytest.raises(Conflict, match="keeps this freeze until"):  # cooldown: 2 h
        svc.calendar.lift_freeze(actor=COMMS, freeze_id=freeze["id"], reason="trains moving")
    clock.advance(2 * 60 * M)
    lifted = svc.calendar.lift_freeze(
        actor=COMMS, freeze_id=freeze["id"], reason="service restored"
    )
    assert lifted["posts"] == {"review": 2, "scheduled": 0, "cancelled": 0, "still_held": 0}
    queue, total = svc.calendar.list_posts(state="held", review=True)
    assert total == 2 and {p["id"] for p in queue} == {gift, fb}
    clock.advance(60 * M)
    assert svc.calendar.publish_due() == 0  # nothing in the review queue publishes by itself
    assert state(svc, gift) == "held"
    types = [e.type for e in svc.incidents.timeline(incident_id=inc.id)]
    assert "froze" in types and types[-1] == "freeze_lifted"


def test_review_publish_reschedule_cancel(service: Crisis, clock: FakeClock) -> None:
    a = post(service, "twitter", "a", 5, ["promo"])
    b = post(service, "twitter", "b", 5, ["promo"])
    c = post(service, "twitter", "c", 5, ["promo"])
    fz = service.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)), reason="test")
    clock.advance(10 * M)
    service.calendar.publish_due()
    with pytest.raises(Conflict, match="still held by freeze"):
        service.calendar.review_post(actor=COMMS, post_id=a, action="publish")
    service.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="over")
    assert service.calendar.review_post(actor=MARKETER, post_id=a, action="publish")["state"] == (
        "published"
    )
    later = clock.now() + 60 * M
    assert (
        service.calendar.review_post(actor=COMMS, post_id=b, action="reschedule", publish_at=later)[
            "state"
        ]
        == "scheduled"
    )
    assert (
        service.calendar.review_post(actor=COMMS, post_id=c, action="cancel")["state"]
        == "cancelled"
    )
    with pytest.raises(ValidationFailed):
        service.calendar.review_post(
            actor=COMMS, post_id=b, action="reschedule", publish_at=clock.now() - M
        )


def test_resume_and_discard_policies(service: Crisis, clock: FakeClock) -> None:
    past = post(service, "twitter", "past", 5, ["promo"])
    future = post(service, "twitter", "future", 120, ["promo"])
    fz = service.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="r", on_lift="resume"
    )
    clock.advance(10 * M)
    service.calendar.publish_due()
    with service.store.transaction() as conn:  # hold the future post too, as if it fell due
        conn.execute(
            sa.text("update posts set state='held', held_by=:h where id=:i"),
            {"h": f"[{fz['id']}]", "i": future},
        )
    out = service.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="done")
    assert out["posts"]["review"] == 1 and out["posts"]["scheduled"] == 1
    assert (state(service, past), state(service, future)) == ("held", "scheduled")
    x = post(service, "facebook", "x", 5, ["promo"])
    fz2 = service.calendar.create_freeze(
        actor=COMMS, scope=Scope(channels=("facebook",)), reason="r", on_lift="discard"
    )
    clock.advance(10 * M)
    service.calendar.publish_due()
    service.calendar.lift_freeze(actor=COMMS, freeze_id=fz2["id"], reason="done")
    assert state(service, x) == "cancelled"


def test_a_post_stays_held_while_another_freeze_holds_it(service: Crisis, clock: FakeClock) -> None:
    p = post(service, "twitter", "p", 5, ["promo"])
    one = service.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)), reason="one")
    two = service.calendar.create_freeze(
        actor=COMMS, scope=Scope(channels=("twitter",)), reason="two"
    )
    clock.advance(10 * M)
    service.calendar.publish_due()
    assert service.calendar.get_post(post_id=p)["held_by"] == [one["id"], two["id"]]
    out = service.calendar.lift_freeze(actor=COMMS, freeze_id=one["id"], reason="r")
    assert out["posts"]["still_held"] == 1
    assert service.calendar.get_post(post_id=p)["held_by"] == [two["id"]]


def test_only_people_lift_and_only_with_a_reason(service: Crisis) -> None:
    fz = service.calendar.create_freeze(
        actor=ROBOT, scope=Scope(tags=("promo",)), reason="alert fired"
    )
    with pytest.raises(Forbidden):
        service.calendar.lift_freeze(actor=ROBOT, freeze_id=fz["id"], reason="auto")
    with pytest.raises(Forbidden):
        service.calendar.lift_freeze(actor=MARKETER, freeze_id=fz["id"], reason="campaign")
    with pytest.raises(ValidationFailed):
        service.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="  ")
    with pytest.raises(ValidationFailed):
        service.calendar.create_freeze(actor=COMMS, scope=Scope(), reason="everything")
    service.calendar.lift_freeze(actor=ADMIN, freeze_id=fz["id"], reason="all clear")
    with pytest.raises(Conflict, match="already lifted"):
        service.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="again")


def test_freeze_status_for_external_schedulers(service: Crisis) -> None:
    assert service.calendar.freeze_status(channel="twitter", tag="promo")["frozen"] is False
    service.calendar.create_freeze(
        actor=COMMS,
        scope=Scope(channels=("twitter",), tags=("promo",), regions=("lille",)),
        reason="r",
    )
    assert service.calendar.freeze_status(channel="twitter", tag="promo", region="lille")["frozen"]
    assert service.calendar.freeze_status(channel="twitter", tag="promo")["frozen"]  # global post
    assert not service.calendar.freeze_status(channel="twitter", tag="promo", region="paris")[
        "frozen"
    ]
    assert not service.calendar.freeze_status(channel="facebook", tag="promo")["frozen"]
    assert service.calendar.freeze_status(tag="promo")["frozen"]  # any channel


CSV = """channel,body,publish_at,tags,regions
twitter,Winter sale starts now,2026-12-01T09:00:00Z,promo;sale,
newsletter,"December news, with a comma",2026-12-02T08:00:00+01:00,promo,lille;calais
"""


def test_import_csv_and_json(service: Crisis) -> None:
    assert service.calendar.import_posts(actor=MARKETER, data=CSV, content_type="text/csv") == 2
    items, total = service.calendar.list_posts(state="scheduled")
    assert total == 2 and items[1]["regions"] == ["lille", "calais"]
    assert items[1]["publish_at"].isoformat() == "2026-12-02T07:00:00+00:00"
    data = '[{"channel": "facebook", "body": "hi", "publish_at": "2026-12-03T10:00:00Z"}]'
    assert (
        service.calendar.import_posts(actor=MARKETER, data=data, content_type="application/json")
        == 1
    )


def test_a_bad_import_names_each_line_and_imports_nothing(service: Crisis) -> None:
    bad = CSV + "fax,Hello,2026-12-01T09:00:00Z,promo,\ntwitter,,tomorrow,,\n"
    with pytest.raises(ValidationFailed) as info:
        service.calendar.import_posts(actor=MARKETER, data=bad, content_type="text/csv")
    errors = info.value.details["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (4, "channel"),
        (5, "body"),
        (5, "publish_at"),
    ]
    assert service.calendar.list_posts()[1] == 0
    with pytest.raises(ValidationFailed, match="header"):
        service.calendar.import_posts(actor=MARKETER, data="a,b\n1,2\n", content_type="text/csv")
    with pytest.raises(Forbidden):
        service.calendar.import_posts(actor=OPERATOR, data=CSV, content_type="text/csv")


def test_a_post_queued_before_a_freeze_is_held_when_the_worker_claims_it(
    service: Crisis, clock: FakeClock
) -> None:
    p = post(service, "twitter", "queued promo", 1, ["promo"])
    clock.advance(2 * M)
    service.calendar.publish_due()  # published: queued in the outbox, not yet sent
    service.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)), reason="incident")
    assert deliver(service, clock) == []
    assert state(service, p) == "held"
    with service.store.engine.connect() as conn:
        assert conn.execute(sa.select(deliveries.c.status)).scalar_one() == "cancelled"
