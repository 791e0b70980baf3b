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
    # What the provider answered that the message's owner needs (a connector's scan lists
    # the items it found; a pause says what it changed): JSON-able, handed to Owners.sent.
    data: Mapping[str, Any] = field(default_factory=dict)


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


@dataclass(frozen=True)
class ExternalItem:
    """Something scheduled on a marketing platform, as its connector sees it.

    ``labels`` are the platform's own objects the item belongs to (``{"category": ("promo",),
    "list": ("123",)}``); the connector's configuration maps them to our tags and regions.
    ``fingerprint`` digests what marketing could edit (content, audience), never the schedule,
    so a pause does not change it. ``state`` is whatever the connector needs to restore the
    item exactly (JSON-able). ``active``: scheduled or live now (False: paused, draft).
    """

    ref: str
    kind: str
    title: str
    send_at: datetime | None
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fingerprint: str = ""
    state: Mapping[str, Any] = field(default_factory=dict)
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "kind": self.kind,
            "title": self.title,
            "send_at": self.send_at.astimezone(UTC).isoformat() if self.send_at else None,
            "labels": {k: list(v) for k, v in self.labels.items()},
            "fingerprint": self.fingerprint,
            "state": dict(self.state),
            "active": self.active,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExternalItem:
        send_at = data.get("send_at")
        return cls(
            ref=str(data["ref"]),
            kind=str(data["kind"]),
            title=str(data.get("title") or ""),
            send_at=datetime.fromisoformat(send_at) if send_at else None,
            labels={str(k): tuple(map(str, v)) for k, v in (data.get("labels") or {}).items()},
            fingerprint=str(data.get("fingerprint") or ""),
            state=dict(data.get("state") or {}),
            active=bool(data.get("active", True)),
        )


class MarketingPlatform(Protocol):
    """One marketing platform behind a connector: list what waits, pause it, put it back.

    Every call may raise engine.kernel.errors.SendFailed (transient or permanent, with the
    platform's Retry-After). Pausing and restoring are idempotent: repeating one after a crash
    changes nothing more.
    """

    name: str

    def scheduled(self) -> list[ExternalItem]:
        """Everything scheduled (or live, for flows and automations) right now; read-only."""
        ...

    def look(self, item: ExternalItem) -> ExternalItem | None:
        """The item as it is now; None if it was deleted."""
        ...

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        """Take the item out of its schedule; return what restoring needs beyond its state."""
        ...

    def restore(self, item: ExternalItem) -> None:
        """Put a paused item back exactly as it was (its original send time)."""
        ...

    def discard(self, item: ExternalItem) -> None:
        """Cancel a paused item for good (what ``on_lift: discard`` means on the platform)."""
        ...
