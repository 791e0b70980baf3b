"""Background machinery of a process: the alarm clock (timers) and the outbox worker.

``crisis serve`` runs it beside the web app; ``crisis worker`` runs only this. Any number of
processes may run it against one PostgreSQL: timers and deliveries are claimed with
SKIP LOCKED.
"""

from __future__ import annotations

import os
import socket

from engine.calendar import next_post_due
from engine.channels import Channel
from engine.errors import CrisisError
from engine.ports import Notifier
from engine.service import Service
from engine.timers import AlarmClock, Source
from engine.worker import Worker
from notifiers.sandbox import SandboxNotifier
from notifiers.webhook import WebhookNotifier


class ChannelNotAvailable(CrisisError):
    code = "channel_not_available"


def build_notifiers(service: Service) -> dict[str, Notifier]:
    """One notifier per configured channel (the composition root for outbound adapters)."""
    out: dict[str, Notifier] = {}
    sandbox = SandboxNotifier(store=service.store, clock=service.clock)
    for name, channel in service.channels.items():
        out[name] = _adapter(channel, sandbox)
    return out


def _adapter(channel: Channel, sandbox: SandboxNotifier) -> Notifier:
    if channel.kind in ("webhook", "slack"):
        env_name = channel.credentials.get("secret", "")
        secret = os.environ.get(env_name, "") if env_name else ""
        if not secret:
            raise ChannelNotAvailable(
                f"channel {channel.name!r}: set the signing secret in "
                f"{env_name or 'an environment variable named by credentials.secret'}"
            )
        return WebhookNotifier(secret=secret, slack=channel.kind == "slack")
    if channel.kind in ("sandbox", "status_page"):
        # status_page publishing to the public page arrives with the status page itself;
        # until then it is recorded like the sandbox so nothing is silently dropped.
        return sandbox
    raise ChannelNotAvailable(
        f"channel {channel.name!r}: the {channel.kind} adapter is not available in this "
        "version; use kind: sandbox"
    )


class Runtime:
    """Start and stop the alarm clock and the outbox worker of this process."""

    def __init__(self, service: Service, *, concurrency: int = 8, safety: float = 2.0) -> None:
        self.service = service
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.worker = Worker(
            store=service.store,
            notifiers=build_notifiers(service),
            media={n: c.medium for n, c in service.channels.items()},
            clock=service.clock,
            concurrency=concurrency,
        )
        publisher = Source(fire=service.publish_due, next_due=lambda: next_post_due(service.store))
        self.alarm = AlarmClock(
            store=service.store,
            handlers=service.timer_handlers(),
            clock=service.clock,
            node=self.node,
            safety=safety,
            on_fired=lambda _n: self.worker.poke(),
            sources=[publisher],
        )
        service.alarm = self.alarm

    def start(self) -> None:
        self.worker.start()
        self.alarm.start()

    def stop(self) -> None:
        self.alarm.stop()
        self.worker.stop()
