"""Background machinery of a process: the alarm clock (timers) and the outbox worker.

``crisis serve`` runs it beside the web app; ``crisis worker`` runs only this. Any number of
processes may run it against one PostgreSQL: timers and deliveries are claimed with
SKIP LOCKED.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from engine.app import Crisis
from engine.calendar.posts import next_post_due
from engine.delivery.sandbox import SandboxNotifier
from engine.delivery.worker import CONCURRENCY, Worker
from engine.kernel.errors import CrisisError
from engine.kernel.ports import Metrics, Notifier
from engine.playbooks.channels import Channel
from engine.public.status_page import StatusPageNotifier
from engine.timers.schedule import Source
from notifiers.bluesky import BlueskyNotifier
from notifiers.email import EmailNotifier
from notifiers.marketing.base import ConnectorNotifier
from notifiers.mastodon import MastodonNotifier
from notifiers.slack import SlackBotNotifier
from notifiers.social import SocialNotifier
from notifiers.teams import TeamsNotifier
from notifiers.twilio_common import make_client
from notifiers.twilio_sms import TwilioSmsNotifier
from notifiers.twilio_voice import TwilioVoiceNotifier
from notifiers.webhook import WebhookNotifier
from notifiers.x import XNotifier
from web.alarm import AlarmClock


class ChannelNotAvailable(CrisisError):
    code = "channel_not_available"


def build_notifiers(crisis: Crisis, env: Mapping[str, str] | None = None) -> dict[str, Notifier]:
    """One notifier per configured channel (the composition root for outbound adapters).

    Credentials come from the environment variables the channels file names; a channel
    whose adapter cannot be built is refused here, at start-up, with what to set.
    """
    env = os.environ if env is None else env
    public = env.get("CRISIS_PUBLIC_URL", "").rstrip("/")
    out: dict[str, Notifier] = {}
    sandbox = SandboxNotifier(store=crisis.store, clock=crisis.clock)
    for name, channel in crisis.channels.items():
        out[name] = _adapter(channel, sandbox, crisis=crisis, env=env, public=public)
    for name, platform in crisis.marketing.items():  # the connectors' jobs
        out[name] = ConnectorNotifier(platform)
    return out


def slack_client(crisis: Crisis, env: Mapping[str, str] | None = None) -> SlackBotNotifier | None:
    """The Slack bot that answers buttons and commands: the approvals channel's (else the
    first slack_bot channel's); None when Slack is not configured or its token is not set."""
    env = os.environ if env is None else env
    bots = [c for c in crisis.channels.values() if c.kind == "slack_bot"]
    bots.sort(key=lambda c: c.options.get("approvals", "").lower() not in ("true", "yes", "1"))
    for channel in bots:
        try:
            built = _social_adapter(channel, env=env, public=env.get("CRISIS_PUBLIC_URL", ""))
        except ChannelNotAvailable:
            continue
        if isinstance(built, SlackBotNotifier):
            return built
    return None


def _secret(channel: Channel, key: str, env: Mapping[str, str], *, required: bool = True) -> str:
    name = channel.credentials.get(key, "")
    value = env.get(name, "") if name else ""
    if required and not value:
        raise ChannelNotAvailable(
            f"channel {channel.name!r}: set the environment variable "
            f"{name or f'named by credentials.{key}'}"
        )
    return value


def _adapter(
    channel: Channel,
    sandbox: SandboxNotifier,
    *,
    crisis: Crisis,
    env: Mapping[str, str],
    public: str,
) -> Notifier:
    kind, opts = channel.kind, channel.options
    if kind == "sandbox":
        return sandbox
    if kind == "status_page":
        return StatusPageNotifier(store=crisis.store, clock=crisis.clock)
    if kind in ("webhook", "slack"):
        return WebhookNotifier(secret=_secret(channel, "secret", env), slack=kind == "slack")
    social = _social_adapter(channel, env=env, public=public)
    if social is not None:
        return social
    if kind == "email":
        if not channel.sender or "host" not in opts:
            raise ChannelNotAvailable(
                f"channel {channel.name!r}: email needs a sender and options.host"
            )
        return EmailNotifier(
            host=opts["host"],
            port=int(opts.get("port", "587")),
            sender=channel.sender,
            security=opts.get("security", "starttls"),
            username=_secret(channel, "username", env, required=False) or None,
            password=_secret(channel, "password", env, required=False) or None,
            cafile=opts.get("cafile"),
            public_url=public,
        )
    if kind in ("twilio_sms", "twilio_voice"):
        client = make_client(
            account_sid=_secret(channel, "account_sid", env),
            auth_token=_secret(channel, "auth_token", env),
            base_url=opts.get("base_url"),
        )
        status = f"{public}/hooks/twilio/status" if public else None
        if kind == "twilio_sms":
            return TwilioSmsNotifier(
                client=client,
                sender=channel.sender,
                messaging_service_sid=opts.get("messaging_service_sid"),
                status_callback=status,
            )
        if not channel.sender:
            raise ChannelNotAvailable(f"channel {channel.name!r}: a voice channel needs a sender")
        return TwilioVoiceNotifier(
            client=client,
            sender=channel.sender,
            status_callback=status,
            gather_url=f"{public}/hooks/twilio/voice" if public else None,
        )
    raise ChannelNotAvailable(f"channel {channel.name!r}: unknown kind {kind!r}")


def _social_adapter(channel: Channel, *, env: Mapping[str, str], public: str) -> Notifier | None:
    """The adapters of social networks and chat, or None for another kind."""
    kind, opts = channel.kind, channel.options
    if kind == "social":
        return SocialNotifier(
            token=_secret(channel, "token", env), profile=opts.get("profile", channel.name)
        )
    if kind == "slack_bot":
        return SlackBotNotifier(
            token=_secret(channel, "token", env), public_url=public, base_url=opts.get("base_url")
        )
    if kind == "bluesky":
        handle = opts.get("handle") or channel.sender
        if not handle:
            raise ChannelNotAvailable(
                f"channel {channel.name!r}: bluesky needs the account's handle (sender)"
            )
        return BlueskyNotifier(
            handle=handle,
            app_password=_secret(channel, "app_password", env),
            base_url=opts.get("base_url", "https://bsky.social"),
        )
    if kind == "x":
        return XNotifier(
            consumer_key=_secret(channel, "consumer_key", env),
            consumer_secret=_secret(channel, "consumer_secret", env),
            access_token=_secret(channel, "access_token", env),
            access_token_secret=_secret(channel, "access_token_secret", env),
            base_url=opts.get("base_url"),
        )
    if kind == "teams":
        return TeamsNotifier(url=_secret(channel, "url", env), public_url=public)
    if kind == "mastodon":
        if "base_url" not in opts:
            raise ChannelNotAvailable(f"channel {channel.name!r}: mastodon needs options.base_url")
        return MastodonNotifier(
            base_url=opts["base_url"],
            access_token=_secret(channel, "access_token", env),
            visibility=opts.get("visibility", "public"),
        )
    return None


class Runtime:
    """Start and stop the alarm clock and the outbox worker of this process."""

    def __init__(
        self,
        crisis: Crisis,
        *,
        concurrency: int = CONCURRENCY,
        lease: float = 60.0,
        safety: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.crisis = crisis
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.worker = Worker(
            store=crisis.store,
            notifiers=build_notifiers(crisis),
            media={n: c.medium for n, c in crisis.channels.items()}
            | dict.fromkeys(crisis.connectors, "connector"),
            rates={n: c.rate_per_second for n, c in crisis.channels.items() if c.rate_per_second},
            clock=crisis.clock,
            owners=crisis.owners,
            concurrency=concurrency,
            lease=lease,
            metrics=metrics,
        )
        publisher = Source(
            fire=crisis.calendar.publish_due, next_due=lambda: next_post_due(crisis.store)
        )
        self.alarm = AlarmClock(
            store=crisis.store,
            handlers=crisis.timer_handlers(),
            clock=crisis.clock,
            node=self.node,
            safety=safety,
            on_fired=lambda _n: self.worker.poke(),
            sources=[publisher],
            metrics=metrics,
        )
        crisis.alarm = self.alarm

    def start(self) -> None:
        self.worker.start()
        self.alarm.start()

    def stop(self) -> None:
        self.alarm.stop()
        self.worker.stop()
