"""The audit: verify every incident's hash chain, and sign chains made before the key existed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel import keys
from engine.kernel.records import event_of
from engine.kernel.timeline import GENESIS, event_hash, verify_chain
from engine.kernel.uow import Work
from engine.store.tables import events, incidents


class Audit:
    def __init__(self, work: Work) -> None:
        self.work = work

    def verify(self) -> list[str]:
        """Check every incident's hash chain; return the findings (empty: all intact)."""
        findings: list[str] = []
        with self.work.read() as conn:
            key = keys.of(conn).audit
            for head, rows in _chains(conn):
                findings += verify_chain(
                    head.id,
                    [event_of(r) for r in rows],
                    head_seq=head.last_seq,
                    head_hash=head.last_hash,
                    key=key,
                )
        return findings

    def rekey(self) -> tuple[int, list[str]]:
        """Sign chains recorded before the audit key existed: (chains re-signed, findings).

        Only a chain that verifies intact as an unkeyed chain is re-signed; a chain that is
        broken either way is left as it is and reported.
        """
        signed = 0
        findings: list[str] = []
        with self.work.transaction() as conn:
            key = keys.of(conn).audit
            for head, rows in _chains(conn, lock=True):
                evs = [event_of(r) for r in rows]
                kw = {"head_seq": head.last_seq, "head_hash": head.last_hash}
                if not verify_chain(head.id, evs, **kw, key=key):
                    continue  # already signed
                broken = verify_chain(head.id, evs, **kw, key=None)
                if broken:
                    findings += broken
                    continue
                prev = GENESIS
                for r, e in zip(rows, evs, strict=True):
                    h = event_hash(
                        incident_id=head.id,
                        seq=e.seq,
                        type=e.type,
                        actor=e.actor,
                        at=e.at,
                        data=e.data,
                        prev_hash=prev,
                        key=key,
                    )
                    conn.execute(
                        events.update().where(events.c.id == r.id).values(prev_hash=prev, hash=h)
                    )
                    prev = h
                conn.execute(
                    incidents.update().where(incidents.c.id == head.id).values(last_hash=prev)
                )
                signed += 1
        return signed, findings


def _chains(conn: Connection, *, lock: bool = False) -> Iterator[tuple[Any, list[Row[Any]]]]:
    """Each incident's chain head and its events in order."""
    q = sa.select(incidents.c.id, incidents.c.last_seq, incidents.c.last_hash).order_by(
        incidents.c.id
    )
    for head in conn.execute(q.with_for_update() if lock else q).all():
        rows = conn.execute(
            sa.select(events)
            .where(events.c.incident_id == head.id)
            .order_by(events.c.seq, events.c.id)
        ).all()
        yield head, list(rows)
