"""A stateful SendGrid (Single Sends) on loopback: what the round trips run against.

It answers the paths and bodies of SendGrid's Marketing Campaigns API v3 (the same requests
Prism validates against SendGrid's own description in test_sendgrid_prism.py) and refuses
anything else with 404/400 the way SendGrid does, so a wrong path or body fails a test.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import Answer

KEY = "SG.test-key"


class FakeSendGrid:
    def __init__(self, clock: Any = None) -> None:
        self.sends: dict[str, dict[str, Any]] = {}
        self.batch_status: dict[str, str] = {}  # batch_id → pause | cancel
        self.requests: list[tuple[str, str, Any]] = []
        self.faults: list[tuple[int, dict[str, str]]] = []
        self.now = clock or (lambda: datetime.now(UTC))
        self.latency = 0.0  # seconds every answer takes (benchmarks: a real network)
        self._lock = threading.Lock()

    # --- marketing's hands ------------------------------------------------------------------
    def create(
        self, name: str, *, send_at: datetime | None, categories: list[str] = (),  # type: ignore[assignment]
        list_ids: list[str] = (),  # type: ignore[assignment]
    ) -> str:  # fmt: skip
        sid = str(uuid.uuid4())
        with self._lock:
            self.sends[sid] = {
                "id": sid, "name": name, "categories": list(categories),
                "status": "scheduled" if send_at else "draft",
                "send_at": _iso(send_at) if send_at else None,
                "send_to": {"list_ids": list(list_ids), "segment_ids": [], "all": False},
                "email_config": {"subject": name, "html_content": f"<p>{name}</p>",
                                 "plain_content": name, "sender_id": 1},
                "created_at": _iso(self.now()), "updated_at": _iso(self.now()),
            }  # fmt: skip
        return sid

    def edit(self, sid: str, *, subject: str) -> None:
        with self._lock:
            self.sends[sid]["email_config"]["subject"] = subject
            self.sends[sid]["updated_at"] = _iso(self.now())

    def reschedule(self, sid: str, when: datetime) -> None:
        with self._lock:
            self.sends[sid] |= {"status": "scheduled", "send_at": _iso(when)}

    def delete(self, sid: str) -> None:
        with self._lock:
            self.sends.pop(sid, None)

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        self.faults += [(status, headers)] * times

    # --- the API ----------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            self.requests.append((method, path, body))
            if headers.get("Authorization") != f"Bearer {KEY}":
                return 401, _err("authorization required"), {}
            if self.faults:
                status, extra = self.faults.pop(0)
                return status, _err(f"fault {status}"), extra
            parts = path.strip("/").split("/")
            if parts[:3] == ["v3", "user", "scheduled_sends"]:
                return self._scheduled_sends(method, parts[3:], body)
            if parts[:3] != ["v3", "marketing", "singlesends"]:
                return 404, _err("no such path"), {}
            if len(parts) == 3 and method == "GET":
                return self._list(query)
            sid = parts[3] if len(parts) > 3 else ""
            send = self.sends.get(sid)
            if send is None:
                return 404, _err("resource not found"), {}
            if len(parts) == 4 and method == "GET":
                return 200, dict(send), {}
            if len(parts) == 5 and parts[4] == "schedule":
                return self._schedule(send, method, body)
            return 404, _err("no such path"), {}

    def _scheduled_sends(self, method: str, rest: list[str], body: Any) -> Answer:
        statuses = ("pause", "cancel")
        if not rest and method == "POST":
            ok = isinstance(body, dict) and set(body) <= {"batch_id", "status"}
            batch = body.get("batch_id") if ok else None
            if not isinstance(batch, str) or body.get("status") not in statuses:
                return 400, _err("batch_id and a status of pause or cancel are required"), {}
            if batch in self.batch_status:
                return 400, _err("this batch already has a status; use PATCH"), {}
            self.batch_status[batch] = body["status"]
            return 201, {"batch_id": batch, "status": body["status"]}, {}
        if not rest and method == "GET":
            return 200, [{"batch_id": b, "status": st} for b, st in self.batch_status.items()], {}
        if len(rest) != 1:
            return 404, _err("no such path"), {}
        batch = rest[0]
        if batch not in self.batch_status:
            return 404, _err("batch not found"), {}
        if method == "GET":
            return 200, [{"batch_id": batch, "status": self.batch_status[batch]}], {}
        if method == "PATCH":
            if not isinstance(body, dict) or body.get("status") not in statuses or len(body) != 1:
                return 400, _err("status must be pause or cancel"), {}
            self.batch_status[batch] = body["status"]
            return 204, None, {}
        if method == "DELETE":
            del self.batch_status[batch]
            return 204, None, {}
        return 405, _err("method not allowed"), {}

    def _list(self, query: dict[str, list[str]]) -> Answer:
        size = int((query.get("page_size") or ["100"])[0])
        if not 1 <= size <= 100:
            return 400, _err("page_size must be between 1 and 100"), {}
        start = int((query.get("page_token") or ["0"])[0])
        rows = sorted(self.sends.values(), key=lambda s: s["created_at"] + s["id"])
        page = rows[start : start + size]
        short = [
            {k: s[k] for k in ("id", "name", "status", "categories", "send_at", "created_at",
                               "updated_at")} | {"is_abtest": False}
            for s in page
        ]  # fmt: skip
        meta: dict[str, Any] = {"count": len(rows)}
        if start + size < len(rows):
            meta["next"] = f"/v3/marketing/singlesends?page_size={size}&page_token={start + size}"
        return 200, {"result": short, "_metadata": meta}, {}

    def _schedule(self, send: dict[str, Any], method: str, body: Any) -> Answer:
        if method == "DELETE":
            if send["status"] != "scheduled":
                return 404, _err("the Single Send is not scheduled"), {}
            send |= {"status": "draft", "send_at": None, "updated_at": _iso(self.now())}
            return 200, {"id": send["id"], "name": send["name"], "status": "draft"}, {}
        if method == "PUT":
            at = body.get("send_at") if isinstance(body, dict) else None
            if set(body or {}) - {"send_at"} or not isinstance(at, str):
                return 400, _err("send_at is required"), {}
            if at != "now":
                try:
                    when = datetime.fromisoformat(at.replace("Z", "+00:00"))
                except ValueError:
                    return 400, _err("send_at must be ISO 8601 or now"), {}
                if when <= self.now():
                    return 400, _err("send_at must be in the future"), {}
            send |= {"status": "scheduled", "send_at": at if at != "now" else _iso(self.now())}
            return 201, {"send_at": send["send_at"], "status": "scheduled"}, {}
        return 405, _err("method not allowed"), {}


def _err(message: str) -> dict[str, Any]:
    return {"errors": [{"field": None, "message": message}]}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
