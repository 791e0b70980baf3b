"""Slack's Web API ``chat.postMessage`` on loopback: checks what Slack documents for it (the
bot token as a Bearer header, a JSON body with ``channel``, ``text`` and Block Kit ``blocks``
of known types and sizes, ``thread_ts`` as Slack writes it) and answers as Slack does —
HTTP 200 with ``ok: false`` and an error word for a refused call, 429 with Retry-After."""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.fakes.http import Answer

TOKEN = "xoxb-test-token"
CHANNELS = {"C0INCIDENTS"}
BLOCKS = {"header", "section", "context", "divider", "actions"}
METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open"}
TS = re.compile(r"^\d{10}\.\d{6}$")


class FakeSlack:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.edits: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.triggers: set[str] = set()  # trigger ids a click gave, each good for one view
        self.faults: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self._n = 0
        self._lock = threading.Lock()

    def fail_next(
        self, status: int = 200, *, error: str = "", retry_after: int | None = None
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        self.faults.append((status, {"ok": False, "error": error or "internal_error"}, headers))

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        with self._lock:
            name = path.removeprefix("/api/")
            if name not in METHODS or method != "POST":
                return 404, {"ok": False, "error": "unknown_method"}, {}
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if self.faults:
                return self.faults.pop(0)
            if name == "chat.postEphemeral":
                if body.get("channel") not in CHANNELS or not str(body.get("user", "")):
                    return 200, {"ok": False, "error": "channel_not_found"}, {}
                self.ephemeral.append(dict(body))
                return 200, {"ok": True, "message_ts": "1764600000.999999"}, {}
            if name == "views.open":
                view = body.get("view") if isinstance(body, dict) else None
                if body.get("trigger_id") not in self.triggers:
                    return 200, {"ok": False, "error": "invalid_trigger_id"}, {}
                if (
                    not isinstance(view, dict)
                    or view.get("type") != "modal"
                    or not view.get("blocks")
                ):
                    return 200, {"ok": False, "error": "invalid_arguments"}, {}
                self.triggers.discard(body["trigger_id"])
                self.views.append(view)
                return 200, {"ok": True, "view": {"id": f"V{len(self.views):08d}"} | view}, {}
            problem = self._check(body)
            if name == "chat.update":
                if problem:
                    return 200, {"ok": False, "error": problem}, {}
                target = next((m for m in self.messages if m["ts"] == body.get("ts")
                               and m["channel"] == body.get("channel")), None)  # fmt: skip
                if target is None:
                    return 200, {"ok": False, "error": "message_not_found"}, {}
                target.update({k: v for k, v in body.items() if k in ("text", "blocks")})
                self.edits.append(dict(body))
                return 200, {"ok": True, "channel": body["channel"], "ts": body["ts"]}, {}
            if problem:
                return 200, {"ok": False, "error": problem}, {}
            self._n += 1
            ts = f"1764600000.{self._n:06d}"
            self.messages.append(dict(body) | {"ts": ts})
            return 200, {"ok": True, "channel": body["channel"], "ts": ts, "message": body}, {}

    def _check(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "invalid_arguments"
        if body.get("channel") not in CHANNELS:
            return "channel_not_found"
        if not isinstance(body.get("text"), str) or not body["text"]:
            return "no_text"
        blocks = body.get("blocks")
        if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
            return "invalid_blocks"
        for b in blocks:
            if not isinstance(b, dict) or b.get("type") not in BLOCKS:
                return "invalid_blocks"
            text = b.get("text") or {}
            if b["type"] == "header" and (
                text.get("type") != "plain_text" or len(text.get("text", "")) > 150
            ):
                return "invalid_blocks"
            if b["type"] == "section" and len(text.get("text", "")) > 3000:
                return "invalid_blocks"
            if b["type"] == "actions" and not _buttons_ok(b.get("elements")):
                return "invalid_blocks"
        ts = body.get("thread_ts")
        if ts is not None and not (isinstance(ts, str) and TS.match(ts)):
            return "invalid_thread_ts"
        return None


def _buttons_ok(elements: Any) -> bool:
    """Block Kit buttons: plain text of at most 75, an action_id, a value up to 2000, a style
    of primary or danger, and a confirm dialog of plain text where given."""
    if not isinstance(elements, list) or not 0 < len(elements) <= 25:
        return False
    ids = set()
    for e in elements:
        text = (e or {}).get("text") or {}
        if e.get("type") != "button" or text.get("type") != "plain_text":
            return False
        if not 0 < len(text.get("text", "")) <= 75 or not e.get("action_id"):
            return False
        if len(str(e.get("value", ""))) > 2000 or e.get("style") not in (None, "primary", "danger"):
            return False
        confirm = e.get("confirm")
        if confirm is not None and not all(
            (confirm.get(k) or {}).get("type") == "plain_text" for k in ("title", "text", "confirm")
        ):
            return False
        ids.add(e["action_id"])
    return len(ids) == len(elements)
