"""The pure decisions of the freeze connectors, and their configuration's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.calendar.rules import (
    external_after_lift,
    item_facts,
    progress_line,
    restore_verdict,
)
from engine.kernel.errors import PlaybookInvalid
from engine.kernel.ports import ExternalItem
from engine.playbooks.channels import parse_config
from engine.playbooks.connectors import Connector, missing

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CRM = Connector(
    name="crm",
    kind="sendgrid",
    channel="newsletter",
    tags={"promo": {"category": ("promo", "sale")}},
    regions={"lille": {"list": ("l1",)}},
    default_tags=("marketing",),
)


def test_an_items_labels_become_our_tags_and_regions() -> None:
    facts = item_facts(CRM, {"category": ["sale"], "list": ["l1", "other"]})
    assert (facts.channel, facts.tags, facts.regions) == (
        "newsletter",
        ("marketing", "promo"),
        ("lille",),
    )
    assert item_facts(CRM, {}).tags == ("marketing",) and item_facts(CRM, {}).regions == ()


def item(*, fp: str = "f", active: bool = False, send_at: datetime | None = NOW) -> ExternalItem:
    return ExternalItem("r", "single_send", "t", send_at, fingerprint=fp, active=active)


def test_an_item_is_restored_only_when_nothing_changed_on_the_platform() -> None:
    later = NOW + timedelta(hours=1)
    assert restore_verdict(fingerprint="f", send_at=later, seen=item()) == ("restore", [])
    assert restore_verdict(fingerprint="f", send_at=later, seen=None)[0] == "gone"
    verdict, changes = restore_verdict(fingerprint="old", send_at=later, seen=item())
    assert verdict == "changed" and "edited" in changes[0]
    verdict, changes = restore_verdict(fingerprint="f", send_at=later, seen=item(active=True))
    assert verdict == "changed" and "put back in the schedule" in changes[0]
    # back exactly as it was: a restore repeated after a crash is not done twice
    seen = item(active=True, send_at=later)
    assert restore_verdict(fingerprint="f", send_at=later, seen=seen) == ("already", [])


@pytest.mark.parametrize(
    ("policy", "send_at", "still", "verdict"),
    [
        ("review", NOW + timedelta(hours=1), [], "review"),
        ("resume", NOW + timedelta(hours=1), [], "restore"),
        ("resume", NOW - timedelta(minutes=1), [], "review"),  # its time has passed
        ("resume", None, [], "restore"),  # a flow or automation goes live again
        ("discard", NOW + timedelta(hours=1), [], "discard"),
        ("resume", NOW + timedelta(hours=1), [7], "keep"),  # another freeze holds it
    ],
)
def test_what_lifting_does_to_one_paused_item(
    policy: str, send_at: datetime | None, still: list[int], verdict: str
) -> None:
    assert external_after_lift(policy, send_at=send_at, now=NOW, still_held_by=still) == verdict


def test_progress_reads_as_a_sentence() -> None:
    assert progress_line("SendGrid", {"paused": 3}, failing=None) == (
        "SendGrid: 3 of 3 scheduled items paused"
    )
    line = progress_line("Mastodon", {"pausing": 2}, failing="401 token rejected")
    assert line == (
        "Mastodon: 0 of 2 scheduled items paused · failing — 401 token rejected, retrying"
    )


CHANNELS = "channels:\n  newsletter: {kind: sandbox, medium: newsletter}\n"


def test_a_broken_connectors_section_is_refused_with_every_place_named() -> None:
    text = CHANNELS + (
        "connectors:\n"
        "  newsletter: {kind: sandbox, channel: newsletter}\n"
        "  sg: {kind: sendgird, channel: newsletter, rescan_every: 0s}\n"
        "  mc: {kind: mailchimp, channel: twitter, credentials: {api_key: lower}}\n"
    )
    with pytest.raises(PlaybookInvalid) as err:
        parse_config(text, file="channels.yaml")
    out = "\n".join(str(p) for p in err.value.problems)
    assert "channels.yaml:4:3: connectors.newsletter: a connector cannot share its name" in out
    assert "channels.yaml:5:14: connectors.sg.kind: unknown kind 'sendgird'" in out
    assert "connectors.sg.rescan_every" in out
    assert "connectors.mc.credentials.api_key" in out
    assert "connectors.mc.channel: unknown channel 'twitter'" in out


def test_start_up_names_what_a_connector_lacks() -> None:
    _, connectors = parse_config(
        CHANNELS + "connectors:\n  mc: {kind: mailchimp, channel: newsletter, "
        "credentials: {api_key: MC_KEY}}\n",
        file="channels.yaml",
    )
    assert missing(connectors["mc"], {}) == [
        "connectors.mc: credentials.api_key: the environment variable MC_KEY is not set",
        "connectors.mc: options.server is required for mailchimp",
    ]
    assert missing(connectors["mc"], {"MC_KEY": "x"})[0].endswith("required for mailchimp")
