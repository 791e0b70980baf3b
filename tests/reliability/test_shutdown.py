"""Graceful shutdown: SIGTERM lets in-flight sends finish and hands unsent claims back."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.ports import OutboundMessage, Receipt, SystemClock
from engine.schema import deliveries
from engine.store import Store
from tests.conftest import ADMIN, OPERATOR
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_blast import channels_file, start
from tests.outbox import outbox_worker
from tests.reliability.test_kill import blast


class Slow:
    """Takes half a second a message; counts what it was asked to send."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.sent: list[int] = []

    def send(self, message: OutboundMessage) -> Receipt:
        self.started.set()
        time.sleep(0.5)
        self.sent.append(message.delivery_id)
        return Receipt(provider_id=f"slow-{message.delivery_id}")


def states(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ).all()
        )


def test_stop_finishes_in_flight_sends_and_releases_the_rest(service: Crisis) -> None:
    for i in range(40):
        service.audience.add_subscriber(actor=ADMIN, audience="staff", phone=f"+1555555{5000 + i}")
    iid = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t"
    ).id
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="staff", body="Stand by. Next update by 10:00."
    )
    assert (
        service.updates.get_update(update_id=u["id"])["status"] == "sending"
    )  # staff: no approval
    slow = Slow()
    worker = outbox_worker(service, every=slow, clock=SystemClock(), concurrency=4, batch=40)
    worker.start()
    assert slow.started.wait(10)
    worker.stop()
    after = states(service.store)
    assert "sending" not in after  # no claim left behind
    assert after.get("sent", 0) + after.get("delivered", 0) == len(slow.sent) >= 1
    assert after.get("pending", 0) == 40 - len(slow.sent)
    with service.store.engine.connect() as conn:
        released = conn.execute(
            sa.select(deliveries.c.attempts, deliveries.c.lease_until).where(
                deliveries.c.status == "pending"
            )
        ).all()
    assert all(r.attempts == 0 and r.lease_until is None for r in released)


def test_sigterm_to_a_worker_process(tmp_path: Path, pg_store_url: tuple[Store, str]) -> None:
    store, url = pg_store_url
    fake = FakeTwilio()
    fake.delay = 0.2
    log = tmp_path / "worker.log"
    try:
        chans = channels_file(tmp_path, fake.url)
        blast(store, chans, 300, "Held. Next update by 10:00 GMT.")
        worker = start(url, chans, log)
        deadline = time.monotonic() + 60
        while len(fake.requests) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, log.read_text()[-2000:]
        after = states(store)
        assert "sending" not in after, after
        assert after.get("sent", 0) == len(fake.accepted)  # every accepted send was recorded
        assert after.get("pending", 0) > 0  # the rest wait for the next worker
        assert "finishing in-flight sends" in log.read_text()
    finally:
        fake.close()
