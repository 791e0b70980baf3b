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
BLOCKS = {"header", "section", "context", "divider"}
TS = re.compile(r"^\d{10}\.\d{6}$")


class FakeSlack:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
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
            if path != "/api/chat.postMessage" or method != "POST":
                return 404, {"ok": False, "error": "unknown_method"}, {}
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if self.faults:
                return self.faults.pop(0)
            problem = self._check(body)
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
        ts = body.get("thread_ts")
        if ts is not None and not (isinstance(ts, str) and TS.match(ts)):
            return "invalid_thread_ts"
        return None
