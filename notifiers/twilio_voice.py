"""Voice pages through Twilio's Calls API with inline TwiML (no relay service to run).

The message is read twice; a Gather asks the person to press 1, which posts to our
/hooks/twilio/voice hook and acknowledges the incident.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from twilio.rest import Client

from engine.kernel.ports import OutboundMessage
from notifiers.twilio_common import TwilioCreator


def twiml_for(message: OutboundMessage, *, gather_url: str | None) -> str:
    """The call's TwiML: say it, gather a keypress (for pages), say it again."""
    said = f'<Say voice="alice">{escape(message.body)}</Say>'
    incident = message.meta.get("incident_id")
    if gather_url and incident is not None and message.kind == "page":
        action = quoteattr(f"{gather_url}?incident={int(incident)}")
        gather = f'<Gather numDigits="1" action={action} method="POST" timeout="8">{said}</Gather>'
        return f"<Response>{gather}{said}</Response>"
    return f'<Response>{said}<Pause length="1"/>{said}</Response>'


class TwilioVoiceNotifier(TwilioCreator):
    """Place one call per message."""

    RESOURCE, NOUN = "calls", "call"

    def __init__(
        self,
        *,
        client: Client,
        sender: str,
        gather_url: str | None = None,
        status_callback: str | None = None,
    ) -> None:
        super().__init__(client=client, status_callback=status_callback)
        self.sender = sender
        self.gather_url = gather_url

    def __repr__(self) -> str:
        return f"TwilioVoiceNotifier(sender={self.sender!r})"

    @property
    def sender_key(self) -> str:
        """Who calls, for pacing: the number."""
        return self.sender

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        return self._with_callback(
            {
                "to": message.address,
                "from_": self.sender,
                "twiml": twiml_for(message, gather_url=self.gather_url),
            }
        )
