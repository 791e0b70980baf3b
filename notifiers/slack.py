"""Operational updates in Slack through the official ``slack_sdk``: ``chat.postMessage`` with
Block Kit, by a bot token, in one thread per incident.

Each message is a header (the incident), the update's text, and a context line (severity,
state, a link to the incident when the public URL is known); ``text`` carries the same words
for notifications and screen readers. The first update of an incident starts a thread in the
channel; later ones reply in it (``thread_ts``: the thread's first message, which the outbox
adds at send time as ``thread_root``).
Slack's own retries are off: the outbox retries, honouring Slack's Retry-After. The token is
sent only in the Authorization header. Incoming webhooks (``kind: slack``) stay as they were.
"""

from __future__ import annotations

import urllib.error
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.marketing.base import http_failure, unreachable

# Slack's error words that a person can fix (a new token, an invite): retried, and shown.
FIXABLE = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "not_in_channel",
    "ratelimited",
}
SEVERITY_EMOJI = {
    "sev1": ":red_circle:",
    "sev2": ":large_orange_circle:",
    "sev3": ":large_yellow_circle:",
}


class SlackBotNotifier:
    def __init__(
        self,
        *,
        token: str,
        public_url: str = "",
        base_url: str | None = None,
        timeout: int = 15,
    ) -> None:
        kwargs: dict[str, Any] = {"token": token, "timeout": timeout}
        if base_url:
            kwargs["base_url"] = base_url.rstrip("/") + "/"
        self._client = WebClient(**kwargs)
        self._client.retry_handlers = []  # the outbox retries
        self.public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return "SlackBotNotifier(token='****')"

    def send(self, message: OutboundMessage) -> Receipt:
        blocks = self.blocks(message)
        root = message.meta.get("thread_root")
        try:
            resp = self._client.chat_postMessage(
                channel=message.address,
                text=message.body,
                blocks=blocks,
                thread_ts=str(root) if root else None,
                unfurl_links=False,
            )
        except SlackApiError as exc:
            raise _failure(exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise unreachable("Slack", exc) from None
        ts = resp.get("ts")
        if not ts:
            raise SendFailed(
                "Slack answered without a message ts", permanent=False, code="bad_answer"
            )
        return Receipt(provider_id=str(ts), final=True)

    def blocks(self, m: OutboundMessage) -> list[dict[str, Any]]:
        meta = m.meta
        incident = meta.get("incident_id")
        title = str(meta.get("title") or m.subject or "Update")
        head = f"INC-{incident} {title}" if incident else title
        context = []
        if meta.get("severity"):
            sev = str(meta["severity"])
            context.append(f"{SEVERITY_EMOJI.get(sev, '')} *{sev.upper()}*".strip())
        if meta.get("state"):
            context.append(f"state: {meta['state']}")
        if incident and self.public_url:
            context.append(f"<{self.public_url}/incidents/{incident}|Open INC-{incident}>")
        out: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _escape(m.body)[:3000]}},
        ]
        if context:
            out.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
            )
        return out


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped (an update is text, never markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _failure(exc: SlackApiError) -> SendFailed:
    resp = exc.response
    status = int(getattr(resp, "status_code", 0) or 0)
    data = getattr(resp, "data", None) or {}
    error = str(data.get("error") or "") if isinstance(data, dict) else ""
    headers = {str(k): str(v) for k, v in (getattr(resp, "headers", None) or {}).items()}
    if status == 429 or error == "ratelimited":
        return http_failure("Slack", 429, headers=headers, body={"error": error})
    if status >= 500:
        return http_failure("Slack", status, headers=headers, body={"error": error})
    return SendFailed(
        f"Slack refused the message: {error or status}",
        permanent=error not in FIXABLE,
        code=error or str(status),
    )
