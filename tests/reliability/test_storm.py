"""A provider storm: Twilio answers 30% of requests with 500 or 429 (Retry-After) and lets 5%
time out. Everyone is reached in the end; permanent refusals are never retried.

The worker is the real one with the real twilio client against the fake Twilio on loopback;
the clock is a fake one the test moves to each next retry, so minutes of backoff take no time.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.schema import deliveries
from notifiers.twilio_common import make_client
from notifiers.twilio_sms import TwilioSmsNotifier
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.fakes.twilio import ACCOUNT, TOKEN, FakeTwilio
from tests.outbox import outbox_worker

SEED = int(os.environ.get("CRISIS_STORM_SEED", "20261123"))


def storm(service: Crisis, clock: FakeClock, recipients: int) -> None:
    fake = FakeTwilio()
    fake.storm(seed=SEED, errors=0.30, timeouts=0.05, hang=0.6)
    fake.invalid_suffix = "99"  # these numbers are refused for good (21211)
    try:
        for i in range(recipients):
            service.audience.add_subscriber(
                actor=ADMIN, audience="passengers", phone=f"+1555{i:07d}"
            )
        iid = service.incidents.declare(
            actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Storm"
        ).id
        u = service.updates.draft_update(
            actor=OPERATOR,
            incident_id=iid,
            audience="passengers",
            body="Held. Next update by 10:00 GMT.",
        )
        service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
        client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url, timeout=0.3)
        sms = TwilioSmsNotifier(client=client, sender="+15005550006")
        worker = outbox_worker(
            service, notifiers={"sms": sms}, clock=clock, concurrency=16, lease=30
        )
        rounds = 0
        while True:
            rounds += 1
            assert rounds < 5000, "the storm never drained"
            if worker.run_once():
                continue
            with service.store.engine.connect() as conn:
                nxt = conn.execute(
                    sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(
                        deliveries.c.channel == "sms", deliveries.c.status == "pending"
                    )
                ).scalar_one()
            if nxt is None:
                break
            clock.set(max(clock.now(), nxt) + timedelta(seconds=1))  # a second's worth at once
        worker.stop()
        with service.store.engine.connect() as conn:
            states = dict(
                conn.execute(
                    sa.select(deliveries.c.status, sa.func.count())
                    .where(deliveries.c.channel == "sms")
                    .group_by(deliveries.c.status)
                ).all()
            )
        tried = Counter(r["form"]["To"] for r in fake.requests)
        accepted = set(fake.accepted)
        invalid = {f"+1555{i:07d}" for i in range(recipients) if f"{i:07d}".endswith("99")}
        wanted = {f"+1555{i:07d}" for i in range(recipients)} - invalid
        failures = len(fake.requests) - len(fake.accepted)
        print(
            f"storm: {recipients} recipients, {len(fake.requests)} requests, "
            f"{failures} refused or timed out, states {states}, {rounds} worker rounds"
        )
        assert wanted <= accepted  # everyone reached, eventually
        assert all(tried[n] == 1 for n in invalid)  # permanent: one attempt, never retried
        assert states == {"sent": len(wanted), "failed": len(invalid)}
        assert failures > 0.25 * len(fake.requests)  # it really stormed
    finally:
        fake.close()


def test_everyone_is_reached_through_a_provider_storm(service: Crisis, clock: FakeClock) -> None:
    storm(service, clock, 600)


@pytest.mark.heavy
def test_a_long_storm(service: Crisis, clock: FakeClock) -> None:
    storm(service, clock, 5000)
