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
CREDENTIALS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
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
        card = message.meta.get("card")
        if isinstance(card, dict):  # an update's approval card: posted once, then edited
            blocks, text = card_blocks(card, self.public_url), card_text(card)
            edit = message.meta.get("edit_of")
            if edit:
                return self._call(lambda: self._client.chat_update(
                    channel=message.address, ts=str(edit), text=text, blocks=blocks
                ))  # fmt: skip
            return self._call(lambda: self._client.chat_postMessage(
                channel=message.address, text=text, blocks=blocks, unfurl_links=False
            ))  # fmt: skip
        edit = message.meta.get("edit_of")
        if edit:  # a correction: the posted message is edited, marked as corrected
            blocks = self.blocks(message) + [
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "_Corrected_"}]}
            ]
            return self._call(lambda: self._client.chat_update(
                channel=message.address, ts=str(edit), text=message.body, blocks=blocks
            ))  # fmt: skip
        root = message.meta.get("thread_root")
        return self._call(
            lambda: self._client.chat_postMessage(
                channel=message.address,
                text=message.body,
                blocks=self.blocks(message),
                thread_ts=str(root) if root else None,
                unfurl_links=False,
            )
        )

    def ephemeral(self, *, channel: str, user: str, text: str) -> None:
        """A message only ``user`` sees (an answer to their button or command)."""
        self._call(lambda: self._client.chat_postEphemeral(channel=channel, user=user, text=text))

    def open_view(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        """Open a modal (within Slack's three seconds of the click that gave ``trigger_id``)."""
        self._call(lambda: self._client.views_open(trigger_id=trigger_id, view=view))

    def _call(self, fn: Any) -> Receipt:
        try:
            resp = fn()
        except SlackApiError as exc:
            raise _failure(exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise unreachable("Slack", exc) from None
        if resp.get("message_ts") and not resp.get("ts"):  # chat.postEphemeral
            return Receipt(provider_id=str(resp["message_ts"]), final=True)
        if resp.get("view"):
            return Receipt(provider_id=str(resp["view"].get("id", "")), final=True)
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
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(m.body)[:3000]}},
        ]
        if context:
            out.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
            )
        return out


OUTCOMES = {
    "approved": ":white_check_mark: Approved",
    "rejected": ":x: Rejected",
    "expired": ":hourglass: Expired unapproved",
    "withdrawn": ":wastebasket: Withdrawn",
}
APPROVE, REJECT = "crisis_approve", "crisis_reject"


def card_text(card: dict[str, Any]) -> str:
    """The card's words for notifications and screen readers."""
    inc = card["incident"]
    decided = card.get("decided")
    state = f"{decided['outcome']} by {decided['by']}" if decided else "waits for approval"
    return f"INC-{inc['id']} update #{card['update_id']} ({card['audience']}) {state}"


def card_blocks(card: dict[str, Any], public_url: str = "") -> list[dict[str, Any]]:
    """An approval card: the update per channel, and buttons while it waits."""
    inc, decided = card["incident"], card.get("decided")
    head = "Approval needed"
    if decided:  # the outcome's words without its emoji (a header is plain text)
        head = OUTCOMES.get(decided["outcome"], ": Decided").split(" ", 1)[-1]
    sev = str(inc.get("severity") or "")
    about = (
        f"{SEVERITY_EMOJI.get(sev, '')} *{sev.upper()}* · {escape(str(inc.get('state') or ''))} · "
        f"update *#{card['update_id']}* for *{escape(card['audience'])}*, revision "
        f"{card['revision']}, drafted by {escape(card['author'])}"
    ).strip()
    out: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{head}: INC-{inc['id']} {inc['title']}"[:150])},
        {"type": "section", "text": {"type": "mrkdwn", "text": about[:3000]}},
    ]
    same: dict[str, list[str]] = {}  # one section per distinct text, naming its channels
    for ch, text in card["texts"].items():
        same.setdefault(text, []).append(ch)
    for loc, texts in (card.get("translations") or {}).items():  # approved with it
        for ch, text in texts.items():
            same.setdefault(text, []).append(f"{ch} ({loc})")
    for text, names in list(same.items())[:10]:
        ch = ", ".join(names)
        quoted = "\n".join(f"> {line}" for line in escape(text).splitlines() or [""])
        out.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{escape(ch)}*\n{quoted}"[:3000]},
            }
        )
    if card.get("violations"):
        words = "; ".join(escape(v) for v in card["violations"])
        out.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f":warning: Policy: {words}"[:3000]}]})  # fmt: skip
    if decided:
        when = str(decided.get("at", ""))[11:16]
        line = f"{OUTCOMES.get(decided['outcome'], decided['outcome'])}"
        if decided.get("by"):
            line += f" by {escape(str(decided['by']))}"
        if when:
            line += f" at {when} UTC"
        if decided.get("reason"):
            line += f": {escape(str(decided['reason']))}"
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line[:3000]}]})
    else:
        value = f"{card['update_id']}:{card['revision']}"
        where = ", ".join(card["texts"])
        confirm = {
            "title": _plain("Send this update?"),
            "text": _plain(f"It goes out at once on {where}."[:300]),
            "confirm": _plain("Approve and send"),
            "deny": _plain("Cancel"),
        }
        label = _plain(f"Approve revision {card['revision']}")
        approve = {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
                   "text": label, "confirm": confirm}  # fmt: skip
        reject = {"type": "button", "action_id": REJECT, "style": "danger", "value": value,
                  "text": _plain("Reject…")}  # fmt: skip
        out.append(
            {
                "type": "actions",
                "block_id": f"card-{card['update_id']}",
                "elements": [approve, reject],
            }
        )
    if public_url:
        link = f"<{public_url}/incidents/{inc['id']}|Open INC-{inc['id']} in crisiscomms>"
        out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return out


def reject_view(update_id: int, revision: int, *, channel: str = "") -> dict[str, Any]:
    """The modal that asks why an update is rejected."""
    return {
        "type": "modal",
        "callback_id": REJECT,
        "private_metadata": f"{update_id}:{revision}:{channel}",
        "title": {"type": "plain_text", "text": f"Reject update #{update_id}"[:24]},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 500,
                },
            },  # fmt: skip
        ],
    }


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def escape(text: str) -> str:
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
        credentials=error in CREDENTIALS,
    )
