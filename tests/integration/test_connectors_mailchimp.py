"""The Mailchimp connector's round trip through the engine, with the official client against
the loopback Mailchimp that checks paths and bodies against Mailchimp's documented API:
scheduled campaigns are unscheduled and classic automations paused; a lift under resume
schedules back (on their quarter-hour) and restarts them; one edited lands in review."""

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
from notifiers.marketing.mailchimp import MailchimpPlatform, quarter_hour
from tests.conftest import COMMS
from tests.connectors import crisis_with
from tests.fakes.http import serve
from tests.fakes.mailchimp import KEY, FakeMailchimp
from tests.outbox import drain, outbox_worker

CONFIG = """
connectors:
  mailchimp:
    kind: mailchimp
    channel: newsletter
    credentials: {api_key: MAILCHIMP_API_KEY}
    options: {server: us1}
    default_tags: [promo]           # everything in this account is marketing
    regions: {lille: {list: [lille-audience]}, paris: {list: [paris-audience]}}
"""


@pytest.fixture
def mailchimp(clock: FakeClock) -> Iterator[tuple[FakeMailchimp, MailchimpPlatform]]:
    fake = FakeMailchimp(clock=clock.now)
    with serve(fake.route) as url:
        yield fake, MailchimpPlatform(api_key=KEY, server="us1", host=f"{url}/3.0", clock=clock.now)


@pytest.fixture
def crisis(store: Store, catalog: Catalog, clock: FakeClock) -> Crisis:
    return crisis_with(CONFIG, store=store, catalog=catalog, clock=clock)


def test_freeze_and_lift_round_trip_on_mailchimp(
    crisis: Crisis, clock: FakeClock, mailchimp: tuple[FakeMailchimp, MailchimpPlatform]
) -> None:
    fake, platform = mailchimp
    at = quarter_hour(clock.now() + timedelta(hours=6), now=clock.now())
    lille = fake.campaign("Lille weekend", send_at=at, list_id="lille-audience")
    paris = fake.campaign("Paris weekend", send_at=at, list_id="paris-audience")
    edited = fake.campaign("To be edited", send_at=at, list_id="lille-audience")
    welcome = fake.automation("Welcome", list_id="lille-audience")
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",), regions=("lille",)), reason="storm",
        on_lift="resume",
    )  # fmt: skip
    run = lambda: drain(outbox_worker(crisis, notifiers={"mailchimp": ConnectorNotifier(platform)}))  # noqa: E731
    run()
    status = {k: v["status"] for k, v in fake.campaigns.items()}
    assert status == {lille: "save", paris: "schedule", edited: "save"}
    assert fake.automations[welcome]["status"] == "paused"
    fake.retitle(edited, "A new subject written during the freeze")
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    run()
    assert fake.campaigns[lille]["status"] == "schedule"
    assert fake.campaigns[lille]["send_time"] == at.isoformat()
    assert fake.campaigns[edited]["status"] == "save"
    assert fake.automations[welcome]["status"] == "sending"
    states = {i["title"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    assert states == {"Lille weekend": "restored", "To be edited": "review", "Welcome": "restored"}
    bad = [r for r in fake.requests if r[1].endswith("/schedule")]
    assert all(r[2] == {"schedule_time": at.strftime("%Y-%m-%dT%H:%M:%S+00:00")} for r in bad)


def test_a_campaign_due_already_is_scheduled_on_the_next_quarter_hour() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 9, 7, 30, tzinfo=UTC)
    assert quarter_hour(now - timedelta(hours=1), now=now) == datetime(
        2026, 12, 1, 9, 30, tzinfo=UTC
    )
    assert quarter_hour(now + timedelta(hours=3, minutes=8), now=now) == datetime(
        2026, 12, 1, 12, 30, tzinfo=UTC
    )
