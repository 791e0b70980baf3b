"""SMS through Twilio's Messages API, with delivery receipts to our status hook."""

from __future__ import annotations

from typing import Any

from twilio.rest import Client

from engine.kernel.ports import OutboundMessage
from notifiers.twilio_common import TwilioCreator


class TwilioSmsNotifier(TwilioCreator):
    """Send one SMS per message; the final delivery status arrives at /hooks/twilio/status.

    The worker calls ``send_async`` (the same request on Twilio's asynchronous client, so
    hundreds are in flight on one thread); ``send`` is the same thing for callers in threads.
    """

    RESOURCE, NOUN = "messages", "message"

    def __init__(
        self,
        *,
        client: Client,
        sender: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        if not sender and not messaging_service_sid:
            raise ValueError("a Twilio SMS channel needs a sender number or a Messaging Service")
        super().__init__(client=client, status_callback=status_callback)
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid

    def __repr__(self) -> str:
        return f"TwilioSmsNotifier(sender={self.sender!r}, service={self.messaging_service_sid!r})"

    @property
    def sender_key(self) -> str:
        """Who sends, for pacing: the number or the Messaging Service."""
        return self.messaging_service_sid or self.sender or ""

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        params: dict[str, Any] = {"to": message.address, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.sender
        return self._with_callback(params)
