"""SMS through Twilio's Messages API, with delivery receipts to our status hook."""

from __future__ import annotations

from typing import Any

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt
from notifiers.twilio_common import (
    NETWORK_ERRORS,
    async_retry_after,
    async_twin,
    classify,
    close_async,
    retry_after_of,
)


class TwilioSmsNotifier:
    """Send one SMS per message; the final delivery status arrives at /hooks/twilio/status.

    The worker calls ``send_async`` (the same request on Twilio's asynchronous client, so
    hundreds are in flight on one thread); ``send`` is the same thing for callers in threads.
    """

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
        self.async_client = async_twin(client)
        _ = self.async_client.messages  # twilio imports its API modules on first use: not mid-blast

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
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params

    def send(self, message: OutboundMessage) -> Receipt:
        try:
            created = self.client.messages.create(**self._params(message))
        except (TwilioException, OSError) as exc:
            raise classify(exc, retry_after=retry_after_of(self.client)) from None
        return _receipt(created.sid)

    async def send_async(self, message: OutboundMessage) -> Receipt:
        try:
            created = await self.async_client.messages.create_async(**self._params(message))
        except (TwilioException, *NETWORK_ERRORS) as exc:
            raise classify(exc, retry_after=async_retry_after()) from None
        return _receipt(created.sid)

    async def aclose(self) -> None:
        await close_async(self.async_client)


def _receipt(sid: str | None) -> Receipt:
    if not sid:
        raise SendFailed("twilio returned no message sid", permanent=False, code="no_sid")
    return Receipt(provider_id=sid, final=False)
