"""Ports: what the engine needs from the outside, as small protocols."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


@dataclass(frozen=True)
class OutboundMessage:
    """One message for one recipient on one channel, as the outbox hands it to a notifier."""

    delivery_id: int
    kind: str  # page, notice, update, post, webhook
    channel: str
    medium: str  # sms, voice, email, social, newsletter, webhook, status_page
    address: str  # phone number, email address or URL
    body: str
    subject: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """What a provider said when it took a message."""

    provider_id: str | None
    final: bool = True  # False: accepted, a delivery receipt will follow (Twilio)


class Notifier(Protocol):
    """Send one message; return a receipt or raise engine.kernel.errors.SendFailed."""

    def send(self, message: OutboundMessage) -> Receipt: ...


class Alarm(Protocol):
    """Told when a timer is added, so the process wakes in time for it."""

    def rearm(self, when: datetime) -> None: ...


class Metrics(Protocol):
    """What the engine reports as it works (the web layer exports it to Prometheus)."""

    def delivered(self, channel: str, seconds: float) -> None:
        """A delivery succeeded ``seconds`` after it was queued."""

    def provider_error(self, channel: str, code: str) -> None:
        """A send failed with this provider or adapter code."""

    def timer_fired(self, kind: str, lateness: float) -> None:
        """A timer fired ``lateness`` seconds after it was due."""


class NullMetrics:
    """Reports nowhere."""

    def delivered(self, channel: str, seconds: float) -> None:
        pass

    def provider_error(self, channel: str, code: str) -> None:
        pass

    def timer_fired(self, kind: str, lateness: float) -> None:
        pass
