"""A stateful Mailchimp Marketing API (campaigns and classic automations) on loopback.

No public description of Mailchimp's API can be kept here, so this fake is the check: it
answers only the paths, methods, query parameters and bodies Mailchimp documents for these
operations (https://mailchimp.com/developer/marketing/api/campaigns/ and …/automation/),
with their rules (basic auth with the key; schedule_time in the future and on a
quarter-hour; unschedule only a scheduled campaign), and 400/404 for anything else."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import Answer

KEY = "0123456789abcdef-us1"
STATUSES = {"save", "paused", "schedule", "sending", "sent"}
LIST_QUERY = {"count", "offset", "status", "fields", "exclude_fields", "type"}


class FakeMailchimp:
    def __init__(self, clock: Any = None) -> None:
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.automations: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.now = clock or (lambda: datetime.now(UTC))
        self._n = 0
        self._lock = threading.Lock()

    def campaign(self, title: str, *, send_at: datetime, list_id: str = "L1") -> str:
        with self._lock:
            self._n += 1
            cid = f"c{self._n:04x}"
            self.campaigns[cid] = {
                "id": cid, "type": "regular", "status": "schedule",
                "send_time": send_at.astimezone(UTC).isoformat(),
                "recipients": {"list_id": list_id},
                "settings": {"title": title, "subject_line": title, "from_name": "Rail"},
            }  # fmt: skip
            return cid

    def automation(self, title: str, *, list_id: str = "L1") -> str:
        with self._lock:
            self._n += 1
            aid = f"a{self._n:04x}"
            self.automations[aid] = {"id": aid, "status": "sending", "settings": {"title": title},
                                     "recipients": {"list_id": list_id}}  # fmt: skip
            return aid

    def retitle(self, cid: str, subject: str) -> None:
        with self._lock:
            self.campaigns[cid]["settings"]["subject_line"] = subject

    def delete(self, cid: str) -> None:
        with self._lock:
            self.campaigns.pop(cid, None)
            self.automations.pop(cid, None)

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        with self._lock:
            self.requests.append((method, path, body))
            expected = "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 401, _err(401, "API Key Invalid"), {}
            parts = path.strip("/").split("/")
            if parts[0] != "3.0":
                return 404, _err(404, "Resource Not Found"), {}
            parts = parts[1:]
            if method == "GET" and len(parts) == 1 and parts[0] in ("campaigns", "automations"):
                if set(query) - LIST_QUERY:
                    return (
                        400,
                        _err(400, f"unknown parameters {sorted(set(query) - LIST_QUERY)}"),
                        {},
                    )
                status = (query.get("status") or [None])[0]
                if status is not None and status not in STATUSES:
                    return 400, _err(400, "Invalid Resource"), {}
                rows = self.campaigns if parts[0] == "campaigns" else self.automations
                found = [dict(r) for r in rows.values() if status in (None, r["status"])]
                return 200, {parts[0]: found, "total_items": len(found)}, {}
            rows = self.campaigns if parts[0] == "campaigns" else self.automations
            row = rows.get(parts[1]) if len(parts) > 1 else None
            if row is None:
                return 404, _err(404, "Resource Not Found"), {}
            if method == "GET" and len(parts) == 2:
                return 200, dict(row), {}
            if method == "POST" and len(parts) == 4 and parts[2] == "actions":
                return self._action(parts[0], row, parts[3], body)
            return 404, _err(404, "Resource Not Found"), {}

    def _action(self, kind: str, row: dict[str, Any], action: str, body: Any) -> Answer:
        if kind == "automations" and action in ("pause-all-emails", "start-all-emails"):
            row["status"] = "paused" if action == "pause-all-emails" else "sending"
            return 204, None, {}
        if kind == "campaigns" and action == "unschedule":
            if row["status"] != "schedule":
                return 400, _err(400, "This campaign is not scheduled"), {}
            row["status"] = "save"
            return 204, None, {}
        if kind == "campaigns" and action == "schedule":
            at = body.get("schedule_time") if isinstance(body, dict) else None
            if not isinstance(at, str) or set(body) - {
                "schedule_time",
                "timewarp",
                "batch_delivery",
            }:
                return 400, _err(400, "schedule_time is required"), {}
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            if when <= self.now() or when.minute % 15 or when.second:
                return (
                    400,
                    _err(400, "Schedule time must be in the future, on the quarter-hour"),
                    {},
                )
            if row["status"] != "save":
                return 400, _err(400, "This campaign cannot be scheduled"), {}
            row["status"], row["send_time"] = "schedule", when.astimezone(UTC).isoformat()
            return 204, None, {}
        return 404, _err(404, "Resource Not Found"), {}


def _err(status: int, detail: str) -> dict[str, Any]:
    return {"type": "https://mailchimp.com/developer/marketing/docs/errors/", "title": detail,
            "status": status, "detail": detail}  # fmt: skip
