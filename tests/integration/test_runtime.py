"""The composition root builds each channel's adapter from the channels file and env."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.app import Crisis
from engine.delivery.sandbox import SandboxNotifier
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import parse_channels
from engine.public.status_page import StatusPageNotifier
from engine.store import Store
from notifiers.bluesky import BlueskyNotifier
from notifiers.email import EmailNotifier
from notifiers.mastodon import MastodonNotifier
from notifiers.slack import SlackBotNotifier
from notifiers.social import SocialNotifier
from notifiers.teams import TeamsNotifier
from notifiers.twilio_sms import TwilioSmsNotifier
from notifiers.twilio_voice import TwilioVoiceNotifier
from notifiers.webhook import WebhookNotifier
from notifiers.x import XNotifier
from web.runtime import ChannelNotAvailable, build_notifiers

CHANNELS = """\
channels:
  sms: {kind: twilio_sms, sender: "+15005550006",
        credentials: {account_sid: TWILIO_ACCOUNT_SID, auth_token: TWILIO_AUTH_TOKEN}}
  voice: {kind: twilio_voice, sender: "+15005550006",
          credentials: {account_sid: TWILIO_ACCOUNT_SID, auth_token: TWILIO_AUTH_TOKEN}}
  email: {kind: email, sender: ops@example.org, options: {host: smtp.example.org, port: 587},
          credentials: {username: SMTP_USER, password: SMTP_PASSWORD}}
  slack: {kind: slack, options: {url: "https://hooks.example.org/x"},
          credentials: {secret: SLACK_SIGNING}}
  twitter: {kind: social, medium: social, options: {url: "https://buffer.example/api", profile: tw},
            credentials: {token: BUFFER_TOKEN}}
  mastodon: {kind: mastodon, medium: social, options: {base_url: "https://mastodon.example"},
             credentials: {access_token: MASTODON_TOKEN}}
  incidents: {kind: slack_bot, options: {channel: C0INCIDENTS}, credentials: {token: SLACK_BOT}}
  teams: {kind: teams, credentials: {url: TEAMS_WORKFLOW_URL}}
  bluesky: {kind: bluesky, sender: brand.bsky.social, credentials: {app_password: BSKY_APP_PW}}
  x: {kind: x, credentials: {consumer_key: X_KEY, consumer_secret: X_SECRET,
                             access_token: X_TOKEN, access_token_secret: X_TOKEN_SECRET}}
  status_page: {kind: status_page}
  newsletter: {kind: sandbox, medium: newsletter}
"""
ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "tok",
    "SMTP_USER": "u",
    "SMTP_PASSWORD": "hunter2",
    "SLACK_SIGNING": "sig",
    "BUFFER_TOKEN": "buf",
    "MASTODON_TOKEN": "masto-secret",
    "SLACK_BOT": "xoxb-secret",
    "TEAMS_WORKFLOW_URL": "https://prod.example.logic.azure.com/workflows/1?sig=teams-secret",
    "BSKY_APP_PW": "bsky-secret",
    "X_KEY": "k",
    "X_SECRET": "x-secret",
    "X_TOKEN": "t",
    "X_TOKEN_SECRET": "x-token-secret",
    "CRISIS_PUBLIC_URL": "https://ops.example.org",
}


def service_with(tmp_path: Path, text: str) -> Crisis:
    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    store.upgrade()
    return Crisis(
        store=store,
        catalog=Catalog({}),
        clock=FakeClock(),
        channels=parse_channels(text, file="channels.yaml"),
    )


def test_every_kind_gets_its_adapter(tmp_path: Path) -> None:
    built = build_notifiers(service_with(tmp_path, CHANNELS), env=ENV)
    kinds = {name: type(n) for name, n in built.items()}
    assert kinds == {
        "sms": TwilioSmsNotifier,
        "voice": TwilioVoiceNotifier,
        "email": EmailNotifier,
        "slack": WebhookNotifier,
        "twitter": SocialNotifier,
        "mastodon": MastodonNotifier,
        "incidents": SlackBotNotifier,
        "teams": TeamsNotifier,
        "bluesky": BlueskyNotifier,
        "x": XNotifier,
        "status_page": StatusPageNotifier,
        "newsletter": SandboxNotifier,
    }
    sms = built["sms"]
    assert isinstance(sms, TwilioSmsNotifier)
    assert sms.status_callback == "https://ops.example.org/hooks/twilio/status"
    voice = built["voice"]
    assert isinstance(voice, TwilioVoiceNotifier)
    assert voice.gather_url == "https://ops.example.org/hooks/twilio/voice"
    secrets = ("hunter2", "masto-secret", "xoxb-secret", "teams-secret", "bsky-secret",
               "x-secret", "x-token-secret")  # fmt: skip
    assert not any(s in repr(built) for s in secrets)
    media = {n: c.medium for n, c in parse_channels(CHANNELS, file="c.yaml").items()}
    assert (media["teams"], media["bluesky"], media["x"]) == ("chat", "social", "social")


def test_a_missing_secret_is_refused_at_start_up_with_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "TWILIO_AUTH_TOKEN"}
    with pytest.raises(ChannelNotAvailable, match="set the environment variable TWILIO_AUTH_TOKEN"):
        build_notifiers(service_with(tmp_path, CHANNELS), env=env)
