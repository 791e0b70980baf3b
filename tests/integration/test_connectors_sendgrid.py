"""The SendGrid connector's round trip through the engine, against the stateful loopback
SendGrid: a freeze unschedules exactly the Single Sends its scope holds, a lift under resume
schedules back those still ahead, and one edited during the freeze lands in review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.errors import Forbidden, ValidationFailed
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from notifiers.marketing.sendgrid import SendGridPlatform
from tests.conftest import COMMS
from tests.connectors import crisis_with
from tests.fakes.http import serve
from tests.fakes.sendgrid import KEY, FakeSendGrid
from tests.outbox import drain, outbox_worker

CONFIG = """
connectors:
  sendgrid:
    kind: sendgrid
    channel: newsletter
    credentials: {api_key: SENDGRID_API_KEY}
    tags: {promo: {category: [promo]}}
    regions: {lille: {list: [list-lille]}}
"""


@pytest.fixture
def sendgrid(clock: FakeClock) -> Iterator[tuple[FakeSendGrid, SendGridPlatform]]:
    fake = FakeSendGrid(clock=clock.now)
    with serve(fake.route) as url:
        yield fake, SendGridPlatform(api_key=KEY, host=url, clock=clock.now)


@pytest.fixture
def crisis(store: Store, catalog: Catalog, clock: FakeClock) -> Crisis:
    return crisis_with(CONFIG, store=store, catalog=catalog, clock=clock)


def test_freeze_and_lift_round_trip_on_sendgrid(
    crisis: Crisis, clock: FakeClock, sendgrid: tuple[FakeSendGrid, SendGridPlatform]
) -> None:
    fake, platform = sendgrid
    now = clock.now()
    ahead = fake.create("Lille promo", send_at=now + timedelta(hours=6), categories=["promo"],
                        list_ids=["list-lille"])  # fmt: skip
    edited = fake.create("Promo to edit", send_at=now + timedelta(hours=6), categories=["promo"])
    soon = fake.create("Promo soon", send_at=now + timedelta(minutes=30), categories=["promo"])
    news = fake.create("Timetable", send_at=now + timedelta(hours=6), categories=["news"])
    fake.fail_next(503, times=2)  # SendGrid is down as the freeze starts
    worker = lambda: outbox_worker(crisis, notifiers={"sendgrid": ConnectorNotifier(platform)})  # noqa: E731
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift="resume"
    )
    for _ in range(4):
        drain(worker())
        clock.advance(timedelta(seconds=30))
    assert {s: fake.sends[s]["status"] for s in (ahead, edited, soon, news)} == {
        ahead: "draft",
        edited: "draft",
        soon: "draft",
        news: "scheduled",
    }
    (run,) = crisis.calendar.get_freeze(freeze_id=f["id"])["connectors"]
    assert run["confirmed_at"] is not None and run["items"] == {"paused": 3}
    fake.edit(edited, subject="Rewritten during the freeze")
    clock.advance(timedelta(hours=1))  # "Promo soon" was due half an hour ago
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    drain(worker())
    assert fake.sends[ahead]["status"] == "scheduled"
    assert fake.sends[ahead]["send_at"] == (now + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fake.sends[edited]["status"] == fake.sends[soon]["status"] == "draft"
    states = {i["title"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    assert states == {"Lille promo": "restored", "Promo to edit": "review", "Promo soon": "review"}
    puts = [p for m, p, _ in fake.requests if m == "PUT"]
    assert puts == [f"/v3/marketing/singlesends/{ahead}/schedule"]  # restored once, only it


def test_registered_batch_sends_are_paused_by_a_freeze_and_resumed_by_deleting_the_pause(
    crisis: Crisis, clock: FakeClock, sendgrid: tuple[FakeSendGrid, SendGridPlatform]
) -> None:
    fake, platform = sendgrid
    marketer = Actor("mia", "marketer")
    soon = clock.now() + timedelta(hours=3)
    crisis.platforms.register_batch(
        actor=marketer, connector="sendgrid", batch_id="QzZmY2Zj-promo", send_at=soon,
        title="Christmas newsletter", tags=["Promo"], regions=["Lille"],
    )  # fmt: skip
    worker = lambda: outbox_worker(crisis, notifiers={"sendgrid": ConnectorNotifier(platform)})  # noqa: E731
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",), regions=("lille",)), reason="storm",
        on_lift="resume",
    )  # fmt: skip
    drain(worker())
    assert fake.batch_status == {"QzZmY2Zj-promo": "pause"}
    # One registered while the freeze is on is paused at once, not at the next scan.
    crisis.platforms.register_batch(
        actor=marketer, connector="sendgrid", batch_id="late-batch", send_at=soon,
        title="Late promo", tags=["promo"],
    )  # fmt: skip
    drain(worker())
    assert fake.batch_status == {"QzZmY2Zj-promo": "pause", "late-batch": "pause"}
    (run,) = crisis.calendar.get_freeze(freeze_id=f["id"])["connectors"]
    assert run["items"] == {"paused": 2}
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    drain(worker())
    assert fake.batch_status == {}  # the pauses deleted: both go at their time
    states = {i["title"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    assert states == {"Christmas newsletter": "restored", "Late promo": "restored"}
    with pytest.raises(ValidationFailed):
        crisis.platforms.register_batch(
            actor=marketer, connector="sendgrid", batch_id="x y", send_at=clock.now()
        )
    with pytest.raises(Forbidden):
        crisis.platforms.register_batch(
            actor=COMMS, connector="sendgrid", batch_id="b", send_at=soon
        )
