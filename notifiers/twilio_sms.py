"""SMS through Twilio's Messages API, with delivery receipts to our status hook."""

from __future__ import annotations

from typing import Any

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.twilio_common import classify, retry_after_of


class TwilioSmsNotifier:
    """Send one SMS per message; the final delivery status arrives at /hooks/twilio/status."""

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
        self.client = client
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback

    def __repr__(self) -> str:
        return f"TwilioSmsNotifier(sender={self.sender!r}, service={self.messaging_service_sid!r})"

    def send(self, message: OutboundMessage) -> Receipt:
        params: dict[str, Any] = {"to": message.address, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.sender
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            created = self.client.messages.create(**params)
        except (TwilioException, OSError) as exc:
            raise classify(exc, retry_after=retry_after_of(self.client)) from None
        if not created.sid:
            raise SendFailed("twilio returned no message sid", permanent=False, code="no_sid")
        return Receipt(provider_id=created.sid, final=False)
