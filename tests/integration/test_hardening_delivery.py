"""Races and receipts in the outbox (issue 13, items 18–21)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.calendar.freezes import gate_share
from engine.calendar.rules import Scope
from engine.delivery import receipts
from engine.delivery._tables import early_receipts
from engine.delivery.outbox import claim
from engine.delivery.worker import Worker
from engine.kernel.ports import FakeClock, OutboundMessage, Receipt, SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.schema import deliveries, freezes, posts
from engine.store import Store
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_escalation import declare_rail, tick
from tests.integration.test_freeze import post
from tests.outbox import outbox_worker

M = timedelta(minutes=1)


class Recording:
    """A notifier port fake: remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.n = 0

    def send(self, message: OutboundMessage) -> Receipt:
        self.sent.append(message)
        self.n += 1
        return Receipt(provider_id=f"SM{self.n:032d}", final=False)


def worker(svc: Crisis, notifier: Any, clock: Any) -> Worker:
    return outbox_worker(svc, every=notifier, clock=clock)


def test_a_page_claimed_before_the_acknowledgement_is_not_sent_after_it(
    roster: Crisis, clock: FakeClock
) -> None:
    """Item 18: the worker checks again immediately before the provider call."""
    iid = declare_rail(roster)
    tick(roster, clock)  # step 1.1 queues its pages
    media = {n: c.medium for n, c in roster.channels.items()}
    claimed = [
        c
        for c in claim(roster.store, now=clock.now(), limit=100, media=media, owners=roster.owners)
    ]
    pages = [c for c in claimed if c.message.kind == "page"]
    assert pages
    roster.incidents.acknowledge(
        actor=OPERATOR, incident_id=iid
    )  # commits while the pages are claimed
    rec = Recording()
    w = worker(roster, rec, clock)
    w.send_claimed(pages)
    assert [m for m in rec.sent if m.kind == "page"] == []
    with roster.store.engine.connect() as conn:
        states = set(
            conn.execute(
                sa.select(deliveries.c.status).where(deliveries.c.kind == "page")
            ).scalars()
        )
    assert states == {"cancelled"}


def test_a_post_claimed_before_the_freeze_is_not_sent_after_it(
    service: Crisis, clock: FakeClock
) -> None:
    """Item 18: a promo whose delivery was claimed just before a freeze stays held."""
    pid = post(service, "facebook", "20% off!", 1, ["promo"], ["lille"])
    clock.advance(2 * M)
    service.calendar.publish_due()
    media = {n: c.medium for n, c in service.channels.items()}
    [c] = [
        x
        for x in claim(service.store, now=clock.now(), limit=10, media=media, owners=service.owners)
    ]
    service.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)), reason="sev1")
    rec = Recording()
    worker(service, rec, clock).send_claimed([c])
    assert rec.sent == []
    assert service.calendar.get_post(post_id=pid)["state"] == "held"


def staff_briefing(service: Crisis, phone: str) -> None:
    """One staff update by SMS to one person, queued in the outbox."""
    iid = declare_rail(service, "sev2")
    service.audience.add_subscriber(actor=ADMIN, audience="staff", phone=phone)
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="staff", body="Briefing 10:30"
    )


def test_a_receipt_that_arrives_before_the_sid_is_stored_is_applied_later(
    service: Crisis, clock: FakeClock
) -> None:
    """Item 19: early receipts are kept and applied when the outbox stores the SID."""
    staff_briefing(service, "+15555550123")
    media = {n: c.medium for n, c in service.channels.items()}
    claimed = [
        c
        for c in claim(service.store, now=clock.now(), limit=10, media=media, owners=service.owners)
        if c.message.channel == "sms"
    ]
    [c] = claimed

    class Early(Recording):
        def send(self, message: OutboundMessage) -> Receipt:
            receipt = super().send(message)
            # The provider calls back before our write of the SID lands.
            service.delivery.record_receipt(provider_id=receipt.provider_id, status="delivered")
            service.delivery.record_receipt(provider_id=receipt.provider_id, status="sent")
            assert service.delivery.apply_receipts() == 0  # no row has that id yet
            return receipt

    worker(service, Early(), clock).send_claimed([c])
    with service.store.engine.connect() as conn:
        row = conn.execute(
            sa.select(deliveries).where(deliveries.c.id == c.message.delivery_id)
        ).one()
    assert row.status == "delivered"  # applied when the SID was stored
    assert row.provider_status == "delivered"  # "sent" arrived after "delivered": not backwards


def test_out_of_order_receipts_never_move_a_delivery_backwards(
    service: Crisis, clock: FakeClock
) -> None:
    staff_briefing(service, "+15555550124")
    rec = Recording()
    w = worker(service, rec, clock)
    w.run_once()
    [m] = [m for m in rec.sent if m.channel == "sms"]
    sid = f"SM{rec.sent.index(m) + 1:032d}"
    for status in ("delivered", "sent", "failed"):
        service.delivery.record_receipt(provider_id=sid, status=status)
    assert service.delivery.apply_receipts() == 3
    with service.store.engine.connect() as conn:
        row = conn.execute(sa.select(deliveries).where(deliveries.c.provider_id == sid)).one()
    assert (row.status, row.provider_status) == ("delivered", "delivered")


def test_a_freeze_is_stamped_after_it_holds_the_gate(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel]
) -> None:
    """Item 20: a publish that held the gate first carries an earlier time than the freeze."""
    svc = Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channel_map)
    published_at: list[Any] = []
    with store.transaction() as conn:
        gate_share(conn)
        conn.execute(posts.update().where(posts.c.id == -1).values(body="x"))  # SQLite: lock
        t = threading.Thread(
            target=svc.calendar.create_freeze,
            kwargs={"actor": COMMS, "scope": Scope(tags=("promo",)), "reason": "sev1"},
        )
        t.start()
        time.sleep(0.3)  # the freeze is waiting for the gate
        published_at.append(svc.clock.now())
    t.join(30)
    with store.engine.connect() as conn:
        created = conn.execute(sa.select(freezes.c.created_at)).scalar_one()
    assert created >= published_at[0]


def test_rfc3339_keeps_milliseconds() -> None:
    """Item 21: people and tools can order events within one second."""
    from datetime import UTC, datetime

    from web.present import rfc3339

    at = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
    assert rfc3339(at) == "2026-12-01T09:30:00.123Z"


def test_kept_receipts_are_stored_whole_or_not_at_all(service: Crisis, clock: FakeClock) -> None:
    """The hook's write (one statement per batch; on PostgreSQL on the driver's cursor):
    long words are cut to their columns, and a failed batch leaves no row behind."""
    long_id = "SM" + "9" * 300
    service.delivery.record_receipt(provider_id=long_id, status="sent", detail="x" * 80)
    with service.store.engine.connect() as conn:
        [row] = conn.execute(sa.select(early_receipts)).all()
    assert (len(row.provider_id), row.status, len(row.detail or "")) == (200, "sent", 32)
    assert row.received_at is not None
    bad = receipts.Kept("SMbad", "sent", None, None)  # type: ignore[arg-type]
    good = receipts.Kept("SMgood", "sent", None, clock.now())
    with pytest.raises(sa.exc.IntegrityError):
        service.delivery._keep([good, bad])  # received_at is NOT NULL
    with service.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(early_receipts)).scalar() == 1


def test_a_driver_statement_commits_alone_or_keeps_nothing(store: Store) -> None:
    if store.dialect == "sqlite":
        with pytest.raises(TypeError):
            store.driver_execute("SELECT 1", ())
        return
    store.driver_execute("CREATE TABLE cursor_probe (n int PRIMARY KEY)", ())
    store.driver_execute("INSERT INTO cursor_probe VALUES (%s)", (1,))
    with pytest.raises(sa.exc.IntegrityError):  # the store's error, not the driver's
        store.driver_execute("INSERT INTO cursor_probe SELECT * FROM unnest(%s::int[])", ([2, 1],))
    with store.transaction() as conn:  # the pooled connections are transactional again
        conn.execute(sa.text("INSERT INTO cursor_probe VALUES (3)"))
        raise_after = conn.execute(sa.text("SELECT count(*) FROM cursor_probe")).scalar()
    assert raise_after == 2
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT n FROM cursor_probe ORDER BY n")).scalars().all() == [
            1,
            3,
        ]
