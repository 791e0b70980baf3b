"""Social posts through a scheduler-style HTTP API (Buffer-, Hootsuite-like endpoints).

POSTs ``{"profile": …, "text": …, "reference": …}`` with a bearer token and reads back the
provider's id (``id`` in the JSON answer). Used by the content calendar's publisher.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.http import post_json


class SocialNotifier:
    def __init__(
        self,
        *,
        token: str,
        profile: str,
        timeout: float = 15.0,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        self._token = token
        self.profile = profile
        self.timeout = timeout
        self._opener = opener

    def __repr__(self) -> str:
        return f"SocialNotifier(profile={self.profile!r}, token='****')"

    def send(self, message: OutboundMessage) -> Receipt:
        body = json.dumps(
            {
                "profile": self.profile,
                "text": message.body,
                "reference": f"crisiscomms-{message.delivery_id}",
            }
        ).encode()
        kwargs: dict[str, Any] = {"opener": self._opener} if self._opener else {}
        _, answer = post_json(
            message.address,
            body,
            timeout=self.timeout,
            what="social API",
            headers={"Authorization": f"Bearer {self._token}"},
            **kwargs,
        )
        try:
            provider_id = str(json.loads(answer or b"{}").get("id") or "")
        except ValueError:
            provider_id = ""
        return Receipt(provider_id=provider_id or f"social-{message.delivery_id}", final=True)
