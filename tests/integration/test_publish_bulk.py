"""Publishing to a big audience (issue #22): the personal deliveries are written set-based,
after the approval commits and in slices, so the incident is not held while they go in and
the first rows are there at once; a publish whose process died is finished by a timer; the
same rows, once each, whichever way they were written."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.kernel.records import incident_row
from engine.schema import deliveries, events, subscribers
from engine.timers.schedule import fire_due
from engine.updates import flow, publishing
from tests.conftest import OPERATOR

PEOPLE = [  # (phone, email, region, opted in, confirmed)
    ("+15550000001", "a@example.org", None, True, True),
    ("+15550000002", None, "lille", True, True),
    (None, "c@example.org", "lille", True, True),
    ("+15550000004", "d@example.org", "calais", True, True),  # another region: not reached
    ("+15550000005", "e@example.org", None, False, True),  # opted out
    ("+15550000006", "f@example.org", None, True, False),  # not confirmed yet
    ("+15550000007", "g@example.org", "lille", True, True),
    ("", "h@example.org", None, True, True),  # an empty phone is no phone
]
REACHED = {  # (channel, address) for the staff audience's email and SMS, region lille
    ("sms", "+15550000001"), ("email", "a@example.org"), ("sms", "+15550000002"),
    ("email", "c@example.org"), ("sms", "+15550000007"), ("email", "g@example.org"),
    ("email", "h@example.org"),
}  # fmt: skip


def people(service: Crisis, clock: FakeClock) -> None:
    now = clock.now()
    with service.store.transaction() as conn:
        conn.execute(subscribers.insert(), [
            {"audience": "staff", "phone": p, "email": e, "region": r, "opted_in": o,
             "confirmed_at": now if c else None, "created_at": now, "source": "admin"}
            for p, e, r, o, c in PEOPLE
        ])  # fmt: skip


def publish(service: Crisis) -> dict[str, object]:
    iid = service.incidents.declare(actor=OPERATOR, playbook="rail-disruption", severity="sev2",
                                    title="Signal failure", regions=["lille"]).id  # fmt: skip
    return service.updates.draft_update(  # staff: no approval, so it publishes at once
        actor=OPERATOR, incident_id=iid, audience="staff", body="Stand by. Next update by 10:00."
    )


def written(service: Crisis) -> list[sa.Row[object]]:
    with service.store.engine.connect() as conn:
        q = sa.select(deliveries).where(deliveries.c.kind == "update").order_by(deliveries.c.id)
        return list(conn.execute(q))


def published_events(service: Crisis, incident_id: int) -> list[dict[str, object]]:
    with service.store.engine.connect() as conn:
        q = sa.select(events.c.data).where(
            events.c.incident_id == incident_id, events.c.type == "published"
        )
        return [dict(d) for d in conn.execute(q).scalars()]


@pytest.mark.parametrize("first,rest", [(1000, 25000), (1, 2)])
def test_each_reachable_person_gets_one_row_per_channel_in_slices(
    service: Crisis, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, first: int, rest: int
) -> None:
    monkeypatch.setattr(publishing, "FIRST_SLICE", first)
    monkeypatch.setattr(publishing, "SLICE", rest)
    people(service, clock)
    u = publish(service)
    rows = written(service)
    assert {(r.channel, r.address) for r in rows} == REACHED
    assert len(rows) == len(REACHED)
    assert all(r.subscriber_id is not None and r.status == "pending" for r in rows)
    assert {r.dedupe_key for r in rows} == {
        f"update:{u['id']}:{r.channel}:{r.subscriber_id}" for r in rows
    }
    metas = {r.channel: r.meta for r in rows}
    assert all(r.meta == metas[r.channel] for r in rows)  # the same meta in every row
    assert "subscriber_id" not in metas["sms"] and metas["sms"]["update_id"] == u["id"]
    assert u["status"] == "sending" and u["deliveries"]["pending"] == len(REACHED)
    assert published_events(service, int(str(u["incident_id"]))) == [
        {"update": u["id"], "audience": "staff", "deliveries": len(REACHED)}
    ]


def test_a_publish_whose_writer_died_is_finished_by_its_timer(
    service: Crisis, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    people(service, clock)
    real = publishing._write_slice
    calls: list[int] = []

    def dies(*args: object, **kwargs: object) -> int | None:
        calls.append(1)
        if len(calls) > 1:  # the first slice went in; then the database went away
            raise ConnectionError("the database went away mid-publish")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(publishing, "FIRST_SLICE", 2)
    monkeypatch.setattr(publishing, "SLICE", 2)
    monkeypatch.setattr(publishing, "_write_slice", dies)
    u = publish(service)
    assert u["status"] == "approved"  # approved and counted; only some deliveries written
    first = written(service)
    assert 0 < len(first) < len(REACHED)
    monkeypatch.setattr(publishing, "_write_slice", real)
    handlers = service.timer_handlers()
    fire_due(service.store, handlers, now=clock.now(), node="t")  # not due yet
    assert len(written(service)) == len(first)
    clock.advance(publishing.RECOVER_AFTER + timedelta(seconds=1))
    fire_due(service.store, handlers, now=clock.now(), node="t")
    rows = written(service)  # the rest, and the first slice's rows not written twice
    assert {(r.channel, r.address) for r in rows} == REACHED and len(rows) == len(REACHED)
    assert [r.id for r in rows[: len(first)]] == [r.id for r in first]
    again = service.updates.get_update(update_id=int(str(u["id"])))
    assert again["status"] == "sending"


def test_the_timer_after_a_completed_publish_writes_nothing_more(
    service: Crisis, clock: FakeClock
) -> None:
    people(service, clock)
    publish(service)
    before = written(service)
    clock.advance(publishing.RECOVER_AFTER + timedelta(seconds=1))
    fire_due(service.store, service.timer_handlers(), now=clock.now(), node="t")
    assert [r.id for r in written(service)] == [r.id for r in before]


def test_a_publish_outside_a_use_case_writes_everything_in_its_transaction(
    service: Crisis, clock: FakeClock
) -> None:
    """A timer's or a test's own transaction has no after-commit: the rows go in at once."""
    people(service, clock)
    iid = service.incidents.declare(actor=OPERATOR, playbook="rail-disruption", severity="sev2",
                                    title="Signal failure", regions=["lille"]).id  # fmt: skip
    with service.store.transaction() as conn:
        inc = incident_row(conn, iid, lock=True)
        pb = service.catalog.pinned(conn, inc.playbook_version)
        uid, _ = flow.draft(conn, pb, inc, actor=OPERATOR.name, role=OPERATOR.role,
                            channels=service.channels, now=clock.now(), audience="staff",
                            template=None, body="Stand by.", locale="en")  # fmt: skip
    assert {(r.channel, r.address) for r in written(service)} == REACHED
    assert service.updates.get_update(update_id=uid)["status"] == "sending"
