"""The outbox's connector jobs carried out on a platform, and what the answers mean.

A job's body names the operation (``scan``, ``pause``, ``restore``, ``discard``,
``deadline``); its meta carries the item as the scan found it. Restoring first looks at the
item on the platform: one deleted or edited during the freeze is left alone and reported, and
one already back exactly as it was (a restore repeated after a crash) is not restored twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.calendar.rules import restore_verdict
from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem, MarketingPlatform, OutboundMessage, Receipt


class ConnectorNotifier:
    """The outbox's notifier for one connector."""

    def __init__(self, platform: MarketingPlatform) -> None:
        self.platform = platform

    def send(self, message: OutboundMessage) -> Receipt:
        op = message.meta.get("op") or message.body
        if op == "deadline":  # the confirmation deadline: nothing to ask the platform
            return Receipt(None)
        if op == "scan":
            items = self.platform.scheduled()
            return Receipt(None, data={"items": [i.to_json() for i in items]})
        item = ExternalItem.from_json(message.meta["item"])
        if op == "pause":
            return Receipt(item.ref, data={"state": dict(self.platform.pause(item))})
        if op in ("restore", "discard"):
            seen = self.platform.look(item)
            verdict, changes = restore_verdict(
                fingerprint=item.fingerprint, send_at=item.send_at, seen=seen
            )
            if verdict == "gone":
                return Receipt(item.ref, data={"outcome": "gone", "changes": changes})
            if op == "discard":
                self.platform.discard(item)
                return Receipt(item.ref, data={"outcome": "discarded"})
            if verdict == "changed":
                return Receipt(item.ref, data={"outcome": "changed", "changes": changes})
            if verdict == "restore":
                self.platform.restore(item)
            return Receipt(item.ref, data={"outcome": "restored"})
        raise SendFailed(f"unknown connector operation {op!r}", permanent=True, code="bad_op")


def fingerprint(*parts: Any) -> str:
    """A digest of what marketing could edit (content, audience): never the schedule."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def http_failure(
    what: str, status: int, *, headers: Mapping[str, str] | None = None, body: Any = None
) -> SendFailed:
    """An HTTP answer as the outbox needs it: 408, 409 (a lock), 429 and 5xx are transient
    (Retry-After honoured), 401 and 403 too (a rotated token fixes them; the freeze must not
    give up on a platform), other 4xx permanent."""
    retry = None
    for k, v in (headers or {}).items():
        if k.lower() == "retry-after":
            retry = _seconds(str(v))
    transient = status in (401, 403, 408, 409, 429) or status >= 500
    detail = _detail(body)
    words = {401: "token rejected", 403: "not allowed", 429: "rate limited"}.get(status, "")
    text = (
        f"{what} answered {status}"
        + (f" {words}" if words else "")
        + (f": {detail}" if detail else "")
    )
    return SendFailed(
        text,
        permanent=not transient,
        code=str(status),
        retry_after=retry,
        credentials=status in (401, 403),
        throttled=status == 429,
    )


def parse_time(value: Any) -> datetime | None:
    """A platform's ISO 8601 time (``Z`` or an offset) in UTC; None if absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def split_ref(item: ExternalItem) -> tuple[str, str]:
    """An item's kind prefix and platform id (``campaign:123`` → ``campaign``, ``123``)."""
    kind, _, iid = item.ref.partition(":")
    return kind, str(item.state.get("id") or iid)


def unreachable(what: str, exc: BaseException) -> SendFailed:
    return SendFailed(f"{what} unreachable: {exc}", permanent=False, code="unreachable")


def _seconds(value: str) -> float | None:
    if value.isdigit():
        return float(value)
    try:  # an HTTP date
        from email.utils import parsedate_to_datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _detail(body: Any) -> str:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:200]
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return str(errors[0].get("message") or errors[0].get("detail") or "")[:200]
        return str(body.get("error") or body.get("detail") or body.get("message") or "")[:200]
    return ""
