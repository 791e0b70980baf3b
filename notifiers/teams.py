"""Operational updates in Microsoft Teams, through a Workflows webhook carrying an Adaptive Card.

A Teams channel gets a webhook from the Workflows app ("Post to a channel when a webhook
request is received"); its URL carries the signature that authorises posting (``sig=``), so
the URL itself is the secret and comes from the environment. The body is the message
envelope Workflows documents: ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}``; the card is the
incident and its title as a heading, the update's text, severity and state as facts, and a
button to the incident when the public URL is known. Workflows answers 202 with no id: Teams
posts do not thread, and the receipt names the delivery. Answers are classified as for every
HTTP provider: 429 and 5xx retried (Retry-After honoured), 401 and 403 (a workflow turned off
or its URL rotated) retried and shown so a person can fix it, other 4xx permanent.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.marketing.base import http_failure, unreachable

CARD = "application/vnd.microsoft.card.adaptive"
# Teams renders Adaptive Cards up to 1.5; a card's payload must stay under 28 KB.
VERSION = "1.5"
MAX_BYTES = 28_000


class TeamsNotifier:
    def __init__(
        self,
        *,
        url: str,
        public_url: str = "",
        timeout: float = 15.0,
        opener: Callable[..., Any] = urllib.request.urlopen,
    ) -> None:
        self._url = url
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self._open = opener

    def __repr__(self) -> str:
        return "TeamsNotifier(url='****')"

    def send(self, message: OutboundMessage) -> Receipt:
        body = json.dumps(
            {
                "type": "message",
                "attachments": [
                    {"contentType": CARD, "contentUrl": None, "content": self.card(message)}
                ],
            },
            ensure_ascii=False,
        ).encode()
        if len(body) > MAX_BYTES:
            raise SendFailed(
                f"the Teams card is {len(body)} bytes; Teams takes {MAX_BYTES}",
                permanent=True,
                code="too_long",
            )
        req = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with self._open(req, timeout=self.timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()
            exc.close()
            raise http_failure(
                "Teams", exc.code, headers=dict(exc.headers or {}), body=detail
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise unreachable("Teams", exc) from None
        return Receipt(provider_id=f"teams-{message.delivery_id}", final=True)

    def card(self, m: OutboundMessage) -> dict[str, Any]:
        """The Adaptive Card of one update."""
        meta = m.meta
        incident = meta.get("incident_id")
        title = str(meta.get("title") or m.subject or "Update")
        head = f"INC-{incident} {title}" if incident else title
        facts = []
        if meta.get("severity"):
            facts.append({"title": "Severity", "value": str(meta["severity"]).upper()})
        if meta.get("state"):
            facts.append({"title": "State", "value": str(meta["state"])})
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": head,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "style": "heading",
            },  # fmt: skip
            {"type": "TextBlock", "text": m.body, "wrap": True},
        ]
        if facts:
            body.append({"type": "FactSet", "facts": facts})
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": VERSION,
            "body": body,
        }
        if meta.get("locale"):
            card["lang"] = str(meta["locale"])
        if incident and self.public_url:
            card["actions"] = [
                {
                    "type": "Action.OpenUrl",
                    "title": f"Open INC-{incident}",
                    "url": f"{self.public_url}/incidents/{incident}",
                }  # fmt: skip
            ]
        return card
