"""Voice pages through Twilio's Calls API with inline TwiML (no relay service to run).

The message is read twice; a Gather asks the person to press 1, which posts to our
/hooks/twilio/voice hook and acknowledges the incident.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

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


def twiml_for(message: OutboundMessage, *, gather_url: str | None) -> str:
    """The call's TwiML: say it, gather a keypress (for pages), say it again."""
    said = f'<Say voice="alice">{escape(message.body)}</Say>'
    incident = message.meta.get("incident_id")
    if gather_url and incident is not None and message.kind == "page":
        action = quoteattr(f"{gather_url}?incident={int(incident)}")
        gather = f'<Gather numDigits="1" action={action} method="POST" timeout="8">{said}</Gather>'
        return f"<Response>{gather}{said}</Response>"
    return f'<Response>{said}<Pause length="1"/>{said}</Response>'


class TwilioVoiceNotifier:
    """Place one call per message."""

    def __init__(
        self,
        *,
        client: Client,
        sender: str,
        gather_url: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        self.client = client
        self.sender = sender
        self.gather_url = gather_url
        self.status_callback = status_callback
        self.async_client = async_twin(client)
        _ = self.async_client.calls  # twilio imports its API modules on first use: not mid-blast

    def __repr__(self) -> str:
        return f"TwilioVoiceNotifier(sender={self.sender!r})"

    @property
    def sender_key(self) -> str:
        """Who calls, for pacing: the number."""
        return self.sender

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        params: dict[str, Any] = {
            "to": message.address,
            "from_": self.sender,
            "twiml": twiml_for(message, gather_url=self.gather_url),
        }
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return params

    def send(self, message: OutboundMessage) -> Receipt:
        try:
            call = self.client.calls.create(**self._params(message))
        except (TwilioException, OSError) as exc:
            raise classify(exc, retry_after=retry_after_of(self.client)) from None
        return _receipt(call.sid)

    async def send_async(self, message: OutboundMessage) -> Receipt:
        try:
            call = await self.async_client.calls.create_async(**self._params(message))
        except (TwilioException, *NETWORK_ERRORS) as exc:
            raise classify(exc, retry_after=async_retry_after()) from None
        return _receipt(call.sid)

    async def aclose(self) -> None:
        await close_async(self.async_client)


def _receipt(sid: str | None) -> Receipt:
    if not sid:
        raise SendFailed("twilio returned no call sid", permanent=False, code="no_sid")
    return Receipt(provider_id=sid, final=False)
