"""The Klaviyo connector's round trip through the engine against the stateful loopback
Klaviyo: a freeze reverts the scheduled campaigns and sets the live flows to manual that its
scope holds; a lift under resume sends them back (campaigns at their own time, flows live)
and a campaign renamed during the freeze lands in review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from notifiers.marketing.klaviyo import KlaviyoPlatform
from tests.conftest import COMMS
from tests.connectors import crisis_with
from tests.fakes.http import serve
from tests.fakes.klaviyo import KEY, FakeKlaviyo
from tests.outbox import drain, outbox_worker

CONFIG = """
connectors:
  klaviyo:
    kind: klaviyo
    channel: newsletter
    credentials: {api_key: KLAVIYO_API_KEY}
    tags: {promo: {tag: [promo, sale]}}
"""


@pytest.fixture
def klaviyo(clock: FakeClock) -> Iterator[tuple[FakeKlaviyo, KlaviyoPlatform]]:
    fake = FakeKlaviyo()
    with serve(fake.route) as url:
        yield fake, KlaviyoPlatform(api_key=KEY, host=url, clock=clock.now)


@pytest.fixture
def crisis(store: Store, catalog: Catalog, clock: FakeClock) -> Crisis:
    return crisis_with(CONFIG, store=store, catalog=catalog, clock=clock)


def test_freeze_and_lift_round_trip_on_klaviyo(
    crisis: Crisis, clock: FakeClock, klaviyo: tuple[FakeKlaviyo, KlaviyoPlatform]
) -> None:
    fake, platform = klaviyo
    now = clock.now()
    sale = fake.campaign("Winter sale", send_at=now + timedelta(hours=6), tags=["sale"])
    sms = fake.campaign(
        "Text promo", send_at=now + timedelta(hours=7), tags=["promo"], channel="sms"
    )
    renamed = fake.campaign("To be renamed", send_at=now + timedelta(hours=6), tags=["promo"])
    news = fake.campaign("Service news", send_at=now + timedelta(hours=6), tags=["news"])
    welcome = fake.flow("Welcome series", tags=["promo"])
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift="resume"
    )
    run = lambda: drain(outbox_worker(crisis, notifiers={"klaviyo": ConnectorNotifier(platform)}))  # noqa: E731
    run()
    status = {k: v["status"] for k, v in fake.campaigns.items()}
    assert status == {sale: "Draft", sms: "Draft", renamed: "Draft", news: "Scheduled"}
    assert fake.flows[welcome]["status"] == "manual"
    (r,) = crisis.calendar.get_freeze(freeze_id=f["id"])["connectors"]
    assert r["confirmed_at"] is not None and r["items"] == {"paused": 4}
    fake.rename(renamed, "Renamed during the freeze")
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    run()
    status = {k: v["status"] for k, v in fake.campaigns.items()}
    assert status == {sale: "Scheduled", sms: "Scheduled", renamed: "Draft", news: "Scheduled"}
    assert fake.flows[welcome]["status"] == "live"
    states = {i["title"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    assert states["To be renamed"] == "review"
    assert {states[t] for t in ("Winter sale", "Text promo", "Welcome series")} == {"restored"}


def test_a_review_reschedules_a_klaviyo_campaign_through_its_send_strategy(
    crisis: Crisis, clock: FakeClock, klaviyo: tuple[FakeKlaviyo, KlaviyoPlatform]
) -> None:
    fake, platform = klaviyo
    cid = fake.campaign("Winter sale", send_at=clock.now() + timedelta(hours=6), tags=["promo"])
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift="review"
    )
    run = lambda: drain(outbox_worker(crisis, notifiers={"klaviyo": ConnectorNotifier(platform)}))  # noqa: E731
    run()
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    (item,) = crisis.platforms.in_review()
    later = clock.now() + timedelta(days=2)
    crisis.platforms.review_item(
        actor=COMMS, item_id=item["id"], action="reschedule", send_at=later
    )
    run()
    assert fake.campaigns[cid]["status"] == "Scheduled"
    assert fake.campaigns[cid]["send_strategy"]["datetime"] == later.isoformat()
