"""The sandbox channel: keep every message it would have sent, for the Sandbox page.

Engine code rather than a notifier: it writes our own table (real providers live in
notifiers/). The default of ``make run``: a newcomer sees the whole flow, every page and
update, with no credentials and nothing leaving the machine.
"""

from __future__ import annotations

from engine.delivery._tables import sandbox_messages
from engine.kernel.ports import Clock, OutboundMessage, Receipt
from engine.store import Store


class SandboxNotifier:
    """Write each message to the ``sandbox_messages`` table."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: OutboundMessage) -> Receipt:
        with self.store.transaction() as conn:
            sid = conn.execute(
                sandbox_messages.insert()
                .values(
                    delivery_id=message.delivery_id,
                    channel=message.channel,
                    medium=message.medium,
                    address=message.address,
                    subject=message.subject,
                    body=message.body,
                    sent_at=self.clock.now(),
                )
                .returning(sandbox_messages.c.id)
            ).scalar_one()
        return Receipt(provider_id=f"sandbox-{sid}", final=True)
