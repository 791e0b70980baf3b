"""A marketing platform held in memory: the ``sandbox`` connector kind and the tests' fake.

It behaves as the real adapters promise (engine.kernel.ports.MarketingPlatform): pausing and
restoring are idempotent, a deleted item is None, editing changes the fingerprint, never the
schedule. ``fail_next`` makes the next calls fail the way a platform does (401, 429 with
Retry-After, 5xx, a timeout), for fault tests. One instance is shared by every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.base import fingerprint, http_failure


@dataclass
class Entry:
    ref: str
    kind: str
    title: str
    body: str
    send_at: datetime | None
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    active: bool = True  # scheduled (or live, for a flow); False: paused
    cancelled: bool = False  # discarded: unscheduled for good


class SandboxPlatform:
    """Scheduled items in memory, with the calls made against them recorded."""

    def __init__(self, name: str = "sandbox", items: Sequence[Entry] = ()) -> None:
        self.name = name
        self.entries: dict[str, Entry] = {e.ref: e for e in items}
        self.calls: list[tuple[str, str]] = []  # (operation, ref)
        self._faults: list[tuple[str | None, SendFailed]] = []
        self._lock = threading.Lock()

    # --- the test's hands on the platform (marketing working in its own tool) -------------
    def schedule(
        self,
        ref: str,
        *,
        title: str,
        send_at: datetime | None,
        kind: str = "campaign",
        body: str = "",
        labels: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        with self._lock:
            self.entries[ref] = Entry(
                ref, kind, title, body or title, send_at,
                {k: tuple(v) for k, v in (labels or {}).items()},
            )  # fmt: skip

    def edit(self, ref: str, *, body: str) -> None:
        with self._lock:
            self.entries[ref].body = body

    def reschedule(self, ref: str, send_at: datetime) -> None:
        with self._lock:
            self.entries[ref].send_at, self.entries[ref].active = send_at, True

    def delete(self, ref: str) -> None:
        with self._lock:
            self.entries.pop(ref, None)

    def fail_next(
        self, *errors: SendFailed | int, retry_after: float | None = None, on: str | None = None
    ) -> None:
        """The next calls (of operation ``on``: scan, look, pause, restore, discard; any if
        None) fail, in order: an HTTP status, or a SendFailed as given."""
        with self._lock:
            for e in errors:
                if isinstance(e, int):
                    headers = {"Retry-After": str(int(retry_after))} if retry_after else {}
                    e = http_failure(self.name, e, headers=headers)
                self._faults.append((on, e))

    def active(self) -> list[str]:
        with self._lock:
            return sorted(r for r, e in self.entries.items() if e.active)

    # --- the port ---------------------------------------------------------------------------
    def scheduled(self) -> list[ExternalItem]:
        with self._lock:
            self._call("scan", "*")
            return [self._item(e) for e in self.entries.values() if e.active]

    def look(self, item: ExternalItem) -> ExternalItem | None:
        with self._lock:
            self._call("look", item.ref)
            e = self.entries.get(item.ref)
            return None if e is None else self._item(e)

    def pause(self, item: ExternalItem) -> Mapping[str, Any]:
        with self._lock:
            self._call("pause", item.ref)
            e = self.entries.get(item.ref)
            if e is None:
                raise http_failure(self.name, 404, body={"error": "no such item"})
            e.active = False
            return {"paused": True}

    def restore(self, item: ExternalItem) -> None:
        with self._lock:
            self._call("restore", item.ref)
            e = self.entries[item.ref]
            e.active, e.send_at = True, item.send_at

    def discard(self, item: ExternalItem) -> None:
        with self._lock:
            self._call("discard", item.ref)
            e = self.entries.get(item.ref)
            if e is not None:
                e.active, e.cancelled = False, True

    def _call(self, op: str, ref: str) -> None:
        self.calls.append((op, ref))
        for i, (on, error) in enumerate(self._faults):
            if on in (None, op):
                del self._faults[i]
                raise error

    def _item(self, e: Entry) -> ExternalItem:
        return ExternalItem(
            ref=e.ref,
            kind=e.kind,
            title=e.title,
            send_at=e.send_at,
            labels=dict(e.labels),
            fingerprint=fingerprint(e.body, e.labels),
            state={"body": e.body},
            active=e.active,
        )
