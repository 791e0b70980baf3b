"""The alarm clock wakes for new timers, and a wake that arrives mid-drain is not lost.

The safety interval is set to 30 s, so only the alarm itself can fire these timers in time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.kernel.ports import SystemClock
from engine.schema import timers
from engine.store import Store
from engine.timers.schedule import schedule
from web.alarm import AlarmClock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.from_url(f"sqlite:///{tmp_path / 'alarm.db'}")
    s.upgrade()
    yield s
    s.dispose()


def add(store: Store, key: str, kind: str, in_seconds: float) -> None:
    clock = SystemClock()
    with store.transaction() as conn:
        schedule(
            conn,
            kind=kind,
            due_at=clock.now() + timedelta(seconds=in_seconds),
            dedupe_key=key,
            now=clock.now(),
        )


def done(store: Store, key: str) -> bool:
    with store.engine.connect() as conn:
        return (
            conn.execute(sa.select(timers.c.state).where(timers.c.dedupe_key == key)).scalar_one()
            == "done"
        )


def wait_for(pred: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_a_timer_added_after_start_fires_without_the_safety_interval(store: Store) -> None:
    alarm = AlarmClock(
        store=store,
        handlers={"t": lambda c, r, n: "ok"},
        clock=SystemClock(),
        node="test",
        safety=30,
    )
    alarm.start()
    try:
        add(store, "late", "t", 0.3)
        alarm.rearm(SystemClock().now() + timedelta(seconds=0.3))
        assert wait_for(lambda: done(store, "late"), timeout=10)
    finally:
        alarm.stop()


def test_a_wake_during_a_slow_drain_is_not_lost(store: Store) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow(conn: Any, row: Any, now: Any) -> str:
        entered.set()
        release.wait(5)
        return "ok"

    alarm = AlarmClock(
        store=store,
        handlers={"slow": slow, "quick": lambda c, r, n: "ok"},
        clock=SystemClock(),
        node="test",
        safety=30,
    )
    add(store, "slow", "slow", 0)
    add(store, "quick", "quick", 1.0)  # not yet due when the first drain claims
    alarm.start()
    try:
        assert entered.wait(10)
        # Armed while the drain is busy; its alarm goes off before the drain ends.
        alarm.rearm(SystemClock().now() + timedelta(seconds=0.8))
        time.sleep(1.5)
        release.set()
        assert wait_for(lambda: done(store, "quick"), timeout=10), "the wake was lost"
    finally:
        release.set()
        alarm.stop()
