"""The status_page channel: write the update to our own public status page's entries (a domain
projection, so engine code; real providers live in notifiers/)."""

from __future__ import annotations

from engine.kernel.ports import Clock, OutboundMessage, Receipt
from engine.kernel.records import find_incident
from engine.public._tables import status_entries
from engine.store import Store
from engine.store.queries import insert_ignore


class StatusPageNotifier:
    """Insert one entry per delivery (idempotent: a retried delivery writes it once).

    The entry keeps the incident's severity, state, regions and services as they were when it
    was published: the public page, feeds and CAP alerts show what was said, never later
    internal changes that nobody has announced.
    """

    def __init__(self, *, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: OutboundMessage) -> Receipt:
        incident_id = message.meta.get("incident_id")
        with self.store.transaction() as conn:
            inc = find_incident(conn, incident_id, lock=False) if incident_id is not None else None
            insert_ignore(
                conn,
                status_entries,
                delivery_id=message.delivery_id,
                incident_id=incident_id,
                update_id=message.meta.get("update_id"),
                kind="update",
                title=message.subject or (inc.title if inc is not None else None),
                body=message.body,
                published_at=self.clock.now(),
                severity=inc.severity if inc is not None else None,
                state=inc.state if inc is not None else None,
                regions=list(inc.regions) if inc is not None else [],
                services=list(inc.services) if inc is not None else [],
            )
        return Receipt(provider_id=f"status-{message.delivery_id}", final=True)
