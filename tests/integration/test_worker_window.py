"""The worker keeps every sender busy: a send that hangs (a 15 s read timeout) holds one slot,
never the others — they are refilled as soon as a send finishes — and a worker never holds
more claimed rows than its window (twice its senders), whatever the backlog."""

from __future__ import annotations

import asyncio
import threading
import time

import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.ports import OutboundMessage, Receipt, SystemClock
from engine.schema import deliveries
from tests.conftest import ADMIN, OPERATOR
from tests.outbox import outbox_worker


class OneHangs:
    """The first message hangs until released; every other one is sent at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hanging = threading.Event()
        self.sent: list[int] = []
        self.most_claimed = 0
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> Receipt:
        with self._lock:
            first = not self.hanging.is_set()
            self.hanging.set()
        if first:
            self.release.wait(60)
        with self._lock:
            self.sent.append(message.delivery_id)
        return Receipt(provider_id=f"p-{message.delivery_id}")


def claimed_now(service: Crisis) -> int:
    with service.store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(deliveries.c.status == "sending")
            ).scalar_one()
        )


def staff_update(service: Crisis, people: int) -> None:
    """A staff update (no approval needed) to ``people`` subscribers: that many SMS queued."""
    for i in range(people):
        service.audience.add_subscriber(actor=ADMIN, audience="staff", phone=f"+1555556{1000 + i}")
    iid = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t"
    ).id
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="staff", body="Stand by. Next update by 10:00."
    )


def test_one_hanging_send_does_not_idle_the_others(service: Crisis) -> None:
    staff_update(service, 120)
    notifier = OneHangs()
    worker = outbox_worker(service, every=notifier, clock=SystemClock(), concurrency=4, batch=64)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        most = 0
        while len(notifier.sent) < 119 and time.monotonic() < deadline:
            most = max(most, claimed_now(service))
            time.sleep(0.01)
        # everything but the hanging one went out while it hung
        assert len(notifier.sent) == 119 and not notifier.release.is_set()
        assert most <= 8  # the window: 4 senders and 4 claimed rows waiting for one
    finally:
        notifier.release.set()
        worker.stop()
    assert len(notifier.sent) == 120


class AsyncOneNeverAnswers:
    """On the event loop, as Twilio's client: the first message never gets an answer."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.hung: list[int] = []

    def send(self, message: OutboundMessage) -> Receipt:  # the port's; the worker uses async
        raise AssertionError("the worker sends on its loop")

    async def send_async(self, message: OutboundMessage) -> Receipt:
        if not self.hung:
            self.hung.append(message.delivery_id)
            await asyncio.Event().wait()  # never set: the provider never answers
        self.sent.append(message.delivery_id)
        return Receipt(provider_id=f"p-{message.delivery_id}")


def test_a_send_without_an_answer_fails_at_its_deadline_and_the_others_go_on(
    service: Crisis,
) -> None:
    """Every send has its own deadline: the silent one is a transient failure (``deadline``),
    retried later, while the rest were sent in the meantime."""
    staff_update(service, 30)
    notifier = AsyncOneNeverAnswers()
    worker = outbox_worker(
        service, every=notifier, clock=SystemClock(), concurrency=4, deadline=0.4
    )
    started = time.monotonic()
    worker.start()
    try:
        while time.monotonic() < started + 30:
            with service.store.engine.connect() as conn:
                row = conn.execute(
                    sa.select(deliveries).where(deliveries.c.id == (notifier.hung or [0])[0])
                ).first()
            if row is not None and row.status == "pending" and row.error_code == "deadline":
                break
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        worker.stop()
    assert row is not None and row.status == "pending" and row.error_code == "deadline"
    assert "no answer within 0.4 s" in row.last_error
    assert took < 5  # checked a few times per deadline, not after the HTTP client's timeout
    assert len(notifier.sent) == 29  # the others were not held behind it
