"""Signed JSON webhooks (freeze events, Slack-compatible incoming webhooks).

Every request carries ``X-Crisis-Timestamp`` (Unix seconds) and ``X-Crisis-Signature:
v1=<hex>``, an HMAC-SHA256 with the channel's secret over ``"{timestamp}.{body}"``, so a
receiver can check where it came from and refuse replays (:func:`verify`). The secret is
read from the environment variable the channels file names; it is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.http import post_json

TOLERANCE_SECONDS = 300
USER_AGENT = "crisiscomms-webhook/1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature_header: str,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Receiver side: the signature matches and the timestamp is recent (no replays)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body), signature_header)


class WebhookNotifier:
    """POST the message body (JSON) to the message's address, signed."""

    def __init__(
        self,
        *,
        secret: str,
        slack: bool = False,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        self._secret = secret
        self.slack = slack
        self.timeout = timeout
        self.clock = clock
        self._open = opener or urllib.request.urlopen

    def __repr__(self) -> str:
        return f"WebhookNotifier(slack={self.slack}, secret='****')"

    def payload(self, message: OutboundMessage) -> bytes:
        if self.slack:
            text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
            return json.dumps({"text": text}).encode()
        try:
            json.loads(message.body)
            return message.body.encode()
        except ValueError:
            return json.dumps(
                {"subject": message.subject, "text": message.body, "kind": message.kind}
            ).encode()

    def send(self, message: OutboundMessage) -> Receipt:
        body = self.payload(message)
        ts = int(self.clock())
        headers = {
            "User-Agent": USER_AGENT,
            "X-Crisis-Timestamp": str(ts),
            "X-Crisis-Signature": signature(self._secret, ts, body),
            "X-Crisis-Delivery": str(message.delivery_id),
        }
        status, _ = post_json(
            message.address, body, headers=headers, timeout=self.timeout, opener=self._open
        )
        return Receipt(provider_id=f"http-{status}-{message.delivery_id}", final=True)
