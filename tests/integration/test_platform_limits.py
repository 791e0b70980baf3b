"""A draft longer than its platform takes is a policy problem before approval, never a failed
send after it: Mastodon's 500 characters (or the instance's, as the channel says), Bluesky's
300 graphemes, X's 280 weighted characters, a Slack message section's 3000; the update card
counts each channel's text against its limit, the platform's way."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from engine.app import Crisis
from engine.kernel import lengths
from engine.kernel.lengths import TextLimit
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
    long = "Trains are delayed between Lille and London. " * 12 + "Next update by 10:40 GMT."
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
        body="Trains are delayed between Lille and London. Next update by 10:40 GMT.",
    )  # fmt: skip
    assert not [v for v in short["policy_violations"] if v["rule"] == "platform_limit"]


def test_a_channel_says_its_instances_limit() -> None:
    base = Channel("mastodon", "mastodon", "social")
    assert text_limits({"m": base}) == {"m": TextLimit(500, "Mastodon", "mastodon")}
    bigger = replace(base, options=MappingProxyType({"max_characters": "1000"}))
    assert text_limits({"m": bigger})["m"].most == 1000
    assert text_limits({"s": Channel("s", "twilio_sms", "sms")}) == {}


def test_each_platform_counts_its_own_way() -> None:
    family, flag = "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7"
    long_url = "https://example.org/" + "a" * 100
    # Bluesky: grapheme clusters — a family emoji (5 code points) and a flag (2) are one each
    assert lengths.graphemes(f"{family}{flag}e\u0301") == 3
    # X: Latin weighs 1, CJK 2, an emoji sequence 2, any URL 23
    assert lengths.x_weighted("a" * 280) == 280
    assert lengths.x_weighted("\u65e5" * 140) == 280
    assert lengths.x_weighted(family) == 2
    assert lengths.x_weighted(f"see {long_url}") == 4 + 23
    # Mastodon: URLs as 23, a remote mention by its local part, graphemes
    assert lengths.mastodon(f"@bob@mastodon.social {long_url} {flag}") == 4 + 1 + 23 + 1 + 1


def test_a_draft_over_xs_weighted_limit_is_refused_before_approval(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> None:
    channels = dict(channel_map)
    channels["twitter"] = replace(channels["twitter"], kind="x")
    crisis = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Delays",
        regions=["lille"],
    )  # fmt: skip
    # 200 code points, but Japanese weighs 2 on X: over 280 though len() says 200
    body = "\u30ea\u30fc\u30eb\u3068\u30ed\u30f3\u30c9\u30f3\u306e\u9593" * 18
    body += "Next update by 10:40 GMT."
    u = crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body=body
    )
    [found] = [v for v in u["policy_violations"] if v["rule"] == "platform_limit"]
    rendered = u["rendered"]["twitter"]
    assert found["message"] == (f"{lengths.x_weighted(rendered)} weighted characters; X takes 280")


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
    text = "Trains are delayed between Lille and London. Next update by 10:40 GMT."
    crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body=text
    )
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("t")), crisis=crisis,
                     test_config={"TESTING": True})  # fmt: skip
    client = app.test_client()
    login(client, "viewer")
    page = client.get(f"/incidents/{inc.id}").get_data(as_text=True)
    assert f"{len(text)} / 500 characters (Mastodon)" in page
