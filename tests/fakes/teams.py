"""A Teams Workflows webhook on loopback: checks what Microsoft documents for "Post to a channel
when a webhook request is received" (POST to the workflow's invoke path with ``api-version``,
``sp``, ``sv`` and ``sig`` in the query, a JSON message whose one attachment is an Adaptive
Card of version ≤ 1.5 built from known elements, under 28 KB) and answers as Workflows does:
202 with no body; 401 for a wrong signature; 400 for a malformed card; 429 with Retry-After."""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes.http import Answer

SIG = "s1gn4ture"
PATH = "/workflows/0f1e2d3c/triggers/manual/paths/invoke"
ELEMENTS = {"TextBlock", "FactSet", "ColumnSet", "Container", "Image", "RichTextBlock"}
ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.Execute", "Action.ShowCard"}
VERSIONS = {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}


def url(base: str) -> str:
    return f"{base}{PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"


class FakeTeams:
    def __init__(self) -> None:
        self.cards: list[dict[str, Any]] = []
        self.faults: list[Answer] = []
        self._lock = threading.Lock()

    def fail_next(self, status: int, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after else {}
        error = {"code": "Throttled" if status == 429 else "ServiceError", "message": "fault"}
        self.faults.append((status, {"error": error}, headers))

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        with self._lock:
            if method != "POST" or path != PATH:
                return 404, {"error": {"code": "TriggerNotFound", "message": path}}, {}
            if query.get("sig") != [SIG] or query.get("api-version") != ["1"]:
                error = {"code": "DirectApiInvalidAuthorizationSignature",
                         "message": "The provided signature is not valid"}  # fmt: skip
                return 401, {"error": error}, {}
            if self.faults:
                return self.faults.pop(0)
            if not headers.get("Content-Type", "").startswith("application/json"):
                return 415, {"error": {"code": "UnsupportedMediaType", "message": ""}}, {}
            if int(headers.get("Content-Length") or 0) > 28_000:
                return 413, {"error": {"code": "MessageTooLarge", "message": ""}}, {}
            problem = self._check(body)
            if problem:
                return 400, {"error": {"code": "InvalidTemplate", "message": problem}}, {}
            self.cards.append(body["attachments"][0]["content"])
            return 202, None, {}

    def texts(self) -> list[str]:
        """The update's text of each card (its second TextBlock)."""
        return [c["body"][1]["text"] for c in self.cards]

    def _check(self, body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("type") != "message":
            return "the body must be a message"
        attachments = body.get("attachments")
        if not isinstance(attachments, list) or len(attachments) != 1:
            return "one attachment expected"
        a = attachments[0]
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "the attachment must be an Adaptive Card"
        card = a.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content must be an AdaptiveCard"
        if card.get("version") not in VERSIONS:
            return f"unsupported card version {card.get('version')!r}"
        elements = card.get("body")
        if not isinstance(elements, list) or not elements:
            return "the card has no body"
        for e in elements:
            if not isinstance(e, dict) or e.get("type") not in ELEMENTS:
                return f"unknown element {e!r:.60}"
            if e["type"] == "TextBlock" and not (isinstance(e.get("text"), str) and e["text"]):
                return "a TextBlock needs text"
            if e["type"] == "FactSet" and not all(
                isinstance(f, dict) and isinstance(f.get("title"), str) and
                isinstance(f.get("value"), str) for f in e.get("facts") or [None]
            ):  # fmt: skip
                return "a FactSet needs facts with a title and a value"
        for act in card.get("actions") or []:
            if not isinstance(act, dict) or act.get("type") not in ACTIONS:
                return f"unknown action {act!r:.60}"
            if act["type"] == "Action.OpenUrl" and not str(act.get("url", "")).startswith(
                ("https://", "http://")
            ):
                return "Action.OpenUrl needs an absolute url"
        return None
