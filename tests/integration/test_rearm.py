"""The alarm clock is armed, on commit, for the earliest thing a use case made due — a timer, a
new or rescheduled post, a post a lifted freeze resumes — without asking the database; a
transaction that noted nothing falls back to asking it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from engine import app
from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from engine.timers._tables import timers
from tests.conftest import COMMS, OPERATOR

MARKETER = Actor("mia", "marketer")


class Alarm:
    def __init__(self) -> None:
        self.armed: list[datetime] = []

    def rearm(self, when: datetime) -> None:
        self.armed.append(when)


def crisis(
    store: Store, catalog: Catalog, clock: FakeClock, channels: dict[str, Channel]
) -> tuple[Crisis, Alarm]:
    alarm = Alarm()
    return Crisis(store=store, catalog=catalog, clock=clock, channels=channels, alarm=alarm), alarm


def no_asking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the alarm is armed by asking the database (what the note spares)."""

    def asked(_store: object) -> None:
        raise AssertionError("the alarm asked the database what is due next")

    monkeypatch.setattr(app.schedule, "next_due", asked)
    monkeypatch.setattr(app, "next_post_due", asked)


def post(svc: Crisis, minutes: int) -> int:
    at = (svc.clock.now() + timedelta(minutes=minutes)).isoformat()
    fields = {"channel": "twitter", "body": "Sale!", "publish_at": at, "tags": ["promo"]}
    return int(svc.calendar.create_post(actor=MARKETER, fields=fields)["id"])


@pytest.fixture
def unasked(
    store: Store,
    catalog: Catalog,
    clock: FakeClock,
    channel_map: dict[str, Channel],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Crisis, Alarm]:
    """A service whose alarm must be armed from what the transaction noted."""
    no_asking(monkeypatch)
    return crisis(store, catalog, clock, channel_map)


def test_a_declare_arms_for_its_first_timer(store: Store, unasked: tuple[Crisis, Alarm]) -> None:
    svc, alarm = unasked
    inc = svc.incidents.declare(actor=OPERATOR, playbook="rail-disruption", severity="sev1",
                                title="Signal failure")  # fmt: skip
    with store.engine.connect() as conn:
        first = conn.execute(
            sa.select(sa.func.min(timers.c.due_at)).where(timers.c.incident_id == inc.id)
        ).scalar_one()
    assert alarm.armed and alarm.armed[-1].replace(tzinfo=None) == first.replace(tzinfo=None)


def test_posts_arm_when_created_rescheduled_and_resumed(
    store: Store, clock: FakeClock, unasked: tuple[Crisis, Alarm]
) -> None:
    svc, alarm = unasked
    now = clock.now()
    pid = post(svc, 30)
    assert alarm.armed[-1] == now + timedelta(minutes=30)
    fz = svc.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)), reason="r",
                                    on_lift="resume")  # fmt: skip
    with store.transaction() as conn:  # as if it had fallen due under the freeze
        conn.execute(sa.text("update posts set state='held', held_by=:h where id=:i"),
                     {"h": f"[{fz['id']}]", "i": pid})  # fmt: skip
    alarm.armed.clear()
    svc.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="over")
    assert alarm.armed == [now + timedelta(minutes=30)]  # resumed at its own time
    later = now + timedelta(hours=2)
    with store.transaction() as conn:
        conn.execute(sa.text("update posts set state='held', held_by='[]' where id=:i"),
                     {"i": pid})  # fmt: skip
    svc.calendar.review_post(actor=COMMS, post_id=pid, action="reschedule", publish_at=later)
    assert alarm.armed[-1] == later


def test_a_transaction_that_noted_nothing_asks_the_database(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> None:
    svc, alarm = crisis(store, catalog, clock, channel_map)
    pid = post(svc, 45)
    alarm.armed.clear()
    svc.work.wake(None)  # what a commit that scheduled nothing it could name does
    assert alarm.armed == [clock.now() + timedelta(minutes=45)]
    assert pid
