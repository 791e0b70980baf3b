"""Delivering updates: retries, permanent errors, fallback, STOP, expiry, rate limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.delivery.ratelimit import Pacer
from engine.delivery.worker import Worker
from engine.kernel.ports import FakeClock, Notifier
from engine.schema import deliveries, subscribers
from engine.timers.schedule import fire_due
from notifiers.twilio_common import make_client
from notifiers.twilio_sms import TwilioSmsNotifier
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.fakes.twilio import ACCOUNT, TOKEN, FakeTwilio
from tests.outbox import outbox_worker


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    yield fake
    fake.close()


def worker_for(svc: Crisis, clock: FakeClock, fake: FakeTwilio, **extra: Notifier) -> Worker:
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url, timeout=0.5)
    sms = TwilioSmsNotifier(client=client, sender="+15005550006")
    return outbox_worker(svc, notifiers={"sms": sms, **extra}, clock=clock, concurrency=2)


def drain(worker: Worker, clock: FakeClock, rounds: int = 30) -> None:
    """Run the worker, moving the clock past each retry's backoff."""
    for _ in range(rounds):
        while worker.run_once():
            pass
        clock.advance(timedelta(minutes=6))


def rows(svc: Crisis) -> list[sa.Row[object]]:
    with svc.store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(deliveries).where(deliveries.c.kind == "update").order_by(deliveries.c.id)
            )
        )


def publish_to(
    svc: Crisis,
    phones: list[str],
    *,
    playbook: str = "rail-disruption",
    audience: str = "passengers",
    emails: bool = False,
) -> int:
    for p in phones:
        svc.audience.add_subscriber(
            actor=ADMIN,
            audience=audience,
            phone=p,
            email=f"{p[-4:]}@example.org" if emails else None,
        )
    sev = "sev2"
    iid = svc.incidents.declare(
        actor=OPERATOR, playbook=playbook, severity=sev, title="Disruption", services=["checkout"]
    ).id
    u = svc.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience=audience,
        body="Services are disrupted. Next update by 10:00 GMT.",
    )
    svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    return int(u["id"])


def test_transient_errors_retry_and_permanent_ones_do_not(
    service: Crisis, clock: FakeClock, twilio: FakeTwilio
) -> None:
    phones = [f"+155555503{i:02d}" for i in range(6)]
    publish_to(service, phones)
    twilio.fail_next(429, 20429, retry_after=30)
    twilio.fail_next(500, 0)
    twilio.hang_next(2)  # a timeout
    twilio.fail_next(400, 21211)  # invalid number
    twilio.fail_next(400, 21610)  # unsubscribed
    worker = worker_for(service, clock, twilio)
    worker.concurrency = 1
    drain(worker, clock)
    worker.stop()
    sms = [r for r in rows(service) if r.channel == "sms"]
    statuses = sorted(r.status for r in sms)
    assert statuses == ["failed", "failed", "sent", "sent", "sent", "sent"]
    failed = {r.error_code for r in sms if r.status == "failed"}
    assert failed == {"21211", "21610"}
    assert all(r.attempts == 1 for r in sms if r.status == "failed")  # never retried
    assert sum(r.attempts for r in sms if r.status == "sent") == 4 + 3  # three retries
    with service.store.engine.connect() as conn:
        opted = (
            conn.execute(sa.select(subscribers.c.phone).where(subscribers.c.opted_in.is_(False)))
            .scalars()
            .all()
        )
    assert len(opted) == 1  # the 21610 recipient is opted out


def test_retry_after_is_honoured(service: Crisis, clock: FakeClock, twilio: FakeTwilio) -> None:
    publish_to(service, ["+15555550400"])
    twilio.fail_next(429, 20429, retry_after=120)
    worker = worker_for(service, clock, twilio)
    worker.run_once()
    worker.stop()
    [row] = [r for r in rows(service) if r.channel == "sms"]
    assert row.status == "pending" and row.next_attempt_at - clock.now() >= timedelta(seconds=120)


def test_fallback_sms_to_email_after_a_permanent_failure(
    service: Crisis, clock: FakeClock, twilio: FakeTwilio
) -> None:
    publish_to(
        service, ["+15555550500"], playbook="payments-outage", audience="merchants", emails=True
    )
    twilio.fail_next(400, 21211)
    worker = worker_for(service, clock, twilio)
    drain(worker, clock, rounds=3)
    worker.stop()
    by_channel = {(r.channel, r.address): r.status for r in rows(service)}
    assert by_channel[("sms", "+15555550500")] == "failed"
    # the merchant's email carried it instead (plus the audience's own email delivery)
    assert by_channel[("email", "0500@example.org")] == "delivered"
    fallbacks = [r for r in rows(service) if r.meta.get("fallback_for")]
    assert len(fallbacks) <= 1  # deduplicated with the audience's own email delivery


def test_no_fallback_to_someone_who_replied_stop(
    service: Crisis, clock: FakeClock, twilio: FakeTwilio
) -> None:
    """The fallback's address is looked up when it is needed: a merchant who unsubscribed
    (Twilio 21610) is opted out and gets no email instead."""
    publish_to(
        service, ["+15555550501"], playbook="payments-outage", audience="merchants", emails=True
    )
    with service.store.transaction() as conn:  # only the SMS: no email of the audience's own
        conn.execute(deliveries.delete().where(deliveries.c.channel != "sms"))
    twilio.fail_next(400, 21610)
    worker = worker_for(service, clock, twilio)
    drain(worker, clock, rounds=3)
    worker.stop()
    assert [(r.channel, r.status, r.error_code) for r in rows(service)] == [
        ("sms", "failed", "21610")
    ]


def test_stop_and_start_by_sms_change_who_is_sent_to(service: Crisis) -> None:
    service.audience.add_subscriber(actor=ADMIN, audience="passengers", phone="+15555550600")
    assert service.audience.set_subscription(phone="+1 555 555 0600", opted_in=False) == 1
    publish_to(service, [])
    assert [r.address for r in rows(service) if r.channel == "sms"] == []
    service.audience.set_subscription(phone="+15555550600", opted_in=True)
    publish_to(service, [])
    assert [r.address for r in rows(service) if r.channel == "sms"] == ["+15555550600"]


def test_an_unapproved_draft_escalates_to_the_backup_approver_then_expires(
    roster: Crisis, clock: FakeClock
) -> None:
    iid = roster.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev2",
        title="Signals",
        regions=["lille"],
    ).id
    u = roster.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience="passengers",
        body="Trains are held. Next update by 10:00 GMT.",
    )
    handlers = roster.timer_handlers()
    clock.advance(timedelta(minutes=30))  # passengers: approval_expires 30m
    fire_due(roster.store, handlers, now=clock.now(), node="t")
    [esc] = [
        e for e in roster.incidents.timeline(incident_id=iid) if e.type == "approval_escalated"
    ]
    assert esc.data["role"] == "ops-director" and esc.data["to"] == ["ed/sms"]
    with roster.store.engine.connect() as conn:
        [body] = [
            b
            for b in conn.execute(
                sa.select(deliveries.c.body).where(
                    deliveries.c.incident_id == iid, deliveries.c.kind == "notice"
                )
            ).scalars()
            if "approval" in b
        ]
    # Issue 16: the approver is told what waits for them, not paged to acknowledge.
    assert f"update #{u['id']} waits for your approval" in body and "ACK" not in body
    clock.advance(timedelta(minutes=30))
    fire_due(roster.store, handlers, now=clock.now(), node="t")
    assert roster.updates.get_update(update_id=u["id"])["status"] == "expired"
    back = roster.updates.revise_update(
        actor=OPERATOR,
        update_id=u["id"],
        body="Trains are moving slowly. Next update by 10:30 GMT.",
    )
    assert back["status"] == "pending_approval" and back["revision"] == 2


def test_a_pacer_paces_to_the_configured_rate() -> None:
    now = [0.0]
    pacer = Pacer(50, clock=lambda: now[0])
    for _ in range(501):
        now[0] += pacer.take()
    assert now[0] == pytest.approx(10.0, rel=0.001)  # 500 waits of 20 ms after the first


def test_a_429_slows_that_sender_only_and_it_climbs_back() -> None:
    now = [0.0]
    fast, slow = Pacer(100, clock=lambda: now[0]), Pacer(100, clock=lambda: now[0])
    slow.throttled()
    slow.throttled()  # the same burst of 429s halves once
    assert slow.current == 50 and fast.current == 100  # the other sender goes on
    now[0] += 2
    slow.throttled()
    assert slow.current == 25
    for _ in range(15):
        slow.succeeded()
    assert slow.current == 100  # a twentieth of the rate back per success, up to the rate


def test_an_unpaced_sender_stays_unpaced_after_a_429() -> None:
    pacer = Pacer(None, clock=lambda: 0.0)
    pacer.throttled()
    assert pacer.current is None and pacer.take() == 0 and pacer.take() == 0


def test_rows_given_back_to_a_slow_sender_get_successive_turns() -> None:
    now = [0.0]
    pacer = Pacer(10, clock=lambda: now[0])
    for _ in range(20):
        pacer.take()  # two seconds of slots taken
    turns = [pacer.later() for _ in range(3)]
    assert turns == pytest.approx([2.1, 2.2, 2.3])


def test_an_email_update_carries_the_templates_html_part(service: Crisis, clock: FakeClock) -> None:
    import email as email_lib
    import email.policy

    from aiosmtpd.controller import Controller

    from notifiers.email import EmailNotifier
    from tests.integration.test_notifiers import SmtpSink, free_port

    service.audience.add_subscriber(actor=ADMIN, audience="merchants", email="shop@example.org")
    iid = service.incidents.declare(
        actor=OPERATOR,
        playbook="payments-outage",
        severity="sev2",
        title="Card payments failing",
        services=["<checkout>"],
    ).id
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="merchants", template="merchant-notice"
    )
    service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    sink, port = SmtpSink(), free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        mailer = EmailNotifier(
            host="127.0.0.1", port=port, sender="ops@example.org", security="none"
        )
        worker = outbox_worker(service, notifiers={"email": mailer}, clock=clock)
        while worker.run_once():
            pass
        worker.stop()
    finally:
        ctl.stop()
    [raw] = sink.messages
    msg = email_lib.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[SEV2] Payments disruption: Card payments failing"
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<strong>Payments affected:</strong> &lt;checkout&gt;." in html
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Payments affected: <checkout>." in text


def test_a_passing_fault_is_retried_soon_and_an_outage_backs_off_in_full() -> None:
    pacer = Pacer(None, clock=lambda: 0.0)
    for _ in range(50):
        pacer.succeeded()
    assert pacer.failed() == 5.0  # one failure among successes: retry within 5 s
    for _ in range(30):
        within = pacer.failed()
    assert within is None  # most sends fail: the provider is in trouble, full backoff


def test_a_passing_fault_is_retried_within_seconds_even_after_attempts(
    service: Crisis, clock: FakeClock
) -> None:
    """The fifth failure of a row would back off 16–32 s; at a healthy sender it waits 5 s."""
    from dataclasses import replace

    from engine.delivery import outbox
    from engine.delivery.outcomes import Outcome
    from engine.kernel.errors import SendFailed

    publish_to(service, ["+15555550700", "+15555550701"])
    media = {n: c.medium for n, c in service.channels.items()}
    claimed = [
        c
        for c in outbox.claim(
            service.store, now=clock.now(), limit=10, media=media, owners=service.owners
        )
        if c.message.channel == "sms"
    ]
    fault = SendFailed("twilio 500", permanent=False, code="20500")
    outbox.record_outcomes(
        service.store,
        [
            Outcome(replace(claimed[0], attempts=5), clock.now(), error=fault, retry_within=5.0),
            Outcome(replace(claimed[1], attempts=5), clock.now(), error=fault),
        ],
        owners=service.owners,
    )
    waits = {
        r.address: r.next_attempt_at - clock.now() for r in rows(service) if r.channel == "sms"
    }
    assert waits["+15555550700"] <= timedelta(seconds=5)
    assert waits["+15555550701"] >= timedelta(seconds=16)
