"""Many deliveries at once: ``enqueue_many`` writes each row once per dedupe key (a row
already queued, or one named twice, is skipped), in batched statements, on both backends;
and a claim takes expired leases and due rows through their own indexes."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from engine.delivery import outbox
from engine.kernel.ports import FakeClock
from engine.schema import deliveries
from engine.store import Store


def test_enqueue_many_writes_each_key_once(store: Store) -> None:
    now = FakeClock().now()

    def rows(keys: range) -> list[dict[str, object]]:
        return [outbox.row(kind="update", channel="sms", address=f"+1555000{k:04d}",
                           body="Trains stopped.", now=now, dedupe_key=f"k:{k}",
                           meta={"subscriber_id": k}) for k in keys]  # fmt: skip

    with store.transaction() as conn:
        outbox.enqueue_many(conn, rows(range(2500)))
    with store.transaction() as conn:  # 1,500 already there, 1,000 new
        outbox.enqueue_many(conn, rows(range(1000, 3500)))
    with store.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one()
        meta = conn.execute(
            sa.select(deliveries.c.meta).where(deliveries.c.dedupe_key == "k:3499")
        ).scalar_one()
    assert n == 3500 and meta == {"subscriber_id": 3499}


def test_a_claim_takes_expired_leases_before_due_rows(store: Store) -> None:
    clock = FakeClock()
    now = clock.now()
    with store.transaction() as conn:
        outbox.enqueue_many(conn, [
            outbox.row(kind="update", channel="sms", address="+15550000001", body="a",
                       now=now, dedupe_key=f"r:{i}") for i in range(5)
        ])  # fmt: skip
    first = outbox.claim(store, now=now, limit=2, media={}, owners=outbox.Owners(),
                         lease=timedelta(seconds=30))  # fmt: skip
    later = now + timedelta(seconds=31)  # their holder died: the lease ran out
    again = outbox.claim(store, now=later, limit=3, media={}, owners=outbox.Owners())
    ids = [c.message.delivery_id for c in again]
    assert ids[:2] == [c.message.delivery_id for c in first]
    assert [c.attempts for c in again] == [2, 2, 1]
