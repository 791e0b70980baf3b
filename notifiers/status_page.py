"""The status_page channel: write the update to our own public status page's entries."""

from __future__ import annotations

from engine.ports import Clock, OutboundMessage, Receipt
from engine.store import Store
from engine.store.queries import insert_ignore
from engine.store.tables import status_entries


class StatusPageNotifier:
    """Insert one entry per delivery (idempotent: a retried delivery writes it once)."""

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: OutboundMessage) -> Receipt:
        with self.store.transaction() as conn:
            insert_ignore(
                conn,
                status_entries,
                delivery_id=message.delivery_id,
                incident_id=message.meta.get("incident_id"),
                title=message.subject,
                body=message.body,
                published_at=self.clock.now(),
            )
        return Receipt(provider_id=f"status-{message.delivery_id}", final=True)
