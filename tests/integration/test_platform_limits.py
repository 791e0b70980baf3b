"""A draft longer than its platform takes is a policy problem before approval, never a failed
send after it: Mastodon's 500 characters (or the instance's, as the channel says), a Slack
message section's 3000; the update card counts each channel's text against its limit."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel, text_limits
from engine.store import Store
from tests.conftest import OPERATOR


def test_the_platforms_limit_is_checked_when_drafting(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> None:
    channels = dict(channel_map)
    channels["twitter"] = replace(channels["twitter"], kind="mastodon")
    crisis = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Delays",
        regions=["lille"],
    )  # fmt: skip
    long = "Trains are delayed between Lille and London. " * 12 + "Next update by 10:40."
    u = crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body=long
    )
    found = [v for v in u["policy_violations"] if v["rule"] == "platform_limit"]
    assert found == [
        {"channel": "twitter", "rule": "platform_limit",
         "message": f"{len(long)} characters; Mastodon takes 500"},
    ]  # fmt: skip
    short = crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers",
        body="Trains are delayed between Lille and London. Next update by 10:40.",
    )  # fmt: skip
    assert not [v for v in short["policy_violations"] if v["rule"] == "platform_limit"]


def test_a_channel_says_its_instances_limit() -> None:
    base = Channel("mastodon", "mastodon", "social")
    assert text_limits({"m": base}) == {"m": (500, "Mastodon")}
    bigger = replace(base, options=MappingProxyType({"max_characters": "1000"}))
    assert text_limits({"m": bigger}) == {"m": (1000, "Mastodon")}
    assert text_limits({"s": Channel("s", "twilio_sms", "sms")}) == {}


def test_the_update_card_counts_each_text_against_its_platform(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> None:
    from tests.conftest import ADMIN
    from tests.integration.test_web import login
    from web import create_app
    from web.config import Config, Secret

    channels = dict(channel_map)
    channels["twitter"] = replace(channels["twitter"], kind="mastodon")
    crisis = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    crisis.accounts.add_user(
        actor=ADMIN, username="viewer", role="viewer", password="viewer-password"
    )
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Delays",
        regions=["lille"],
    )  # fmt: skip
    text = "Trains are delayed between Lille and London. Next update by 10:40."
    crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body=text
    )
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("t")), crisis=crisis,
                     test_config={"TESTING": True})  # fmt: skip
    client = app.test_client()
    login(client, "viewer")
    page = client.get(f"/incidents/{inc.id}").get_data(as_text=True)
    assert f"{len(text)} / 500 characters (Mastodon)" in page
