"""Race: a post falls due exactly as a freeze commits; none may be published after it.

How a violation is seen without trusting clocks: the freeze is created by the real
`create_freeze` inside a transaction the test controls, which then reads the post's state
while it still holds the freeze gate, and commits. Under the gate protocol a publish either
committed before the freeze took the gate (the freeze saw it published) or waits and then
sees the freeze (held). So "the freeze saw the post unpublished, yet it ended published"
is exactly a publish after the freeze's commit. With the gate disabled the same harness
finds violations (test_the_harness_catches_a_missing_gate), so it can fail.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.calendar import freezes
from engine.calendar import posts as calendar
from engine.calendar.rules import Scope
from engine.kernel.models import Actor
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel, load_channels
from engine.schema import posts
from engine.store import Store
from tests.conftest import CHANNELS, PLAYBOOKS, PgSchema, pg_schema_engine_url

MARKETER = Actor("mia", "marketer")
TRIALS = 1000


def jitter() -> None:
    """0-2 ms, so that either side may win: both orders, and near ties, get exercised."""
    time.sleep(random.uniform(0, 0.002))


def make_post(svc: Crisis, tag: str) -> int:
    due = (svc.clock.now() - timedelta(seconds=1)).isoformat()
    return int(
        svc.calendar.create_post(
            actor=MARKETER,
            fields={"channel": "twitter", "body": f"promo {tag}", "publish_at": due, "tags": [tag]},
        )["id"]
    )


def freeze_and_observe(store: Store, channels: dict[str, Channel], tag: str, post_id: int) -> str:
    """Create a freeze matching the post; return the post's state seen under the gate."""
    with store.transaction() as conn:
        freezes.create_freeze(
            conn,
            scope=Scope(tags=(tag,)),
            reason="race",
            actor="test",
            now=SystemClock().now(),
            channels=channels,
        )
        seen = conn.execute(sa.select(posts.c.state).where(posts.c.id == post_id)).scalar_one()
    return str(seen)


def outcome(store: Store, post_id: int, seen: str) -> str:
    with store.engine.connect() as conn:
        final = conn.execute(sa.select(posts.c.state).where(posts.c.id == post_id)).scalar_one()
    if final == "published" and seen != "published":
        return "VIOLATION"
    return "published before the freeze" if final == "published" else "held"


def one_thread_trial(svc: Crisis, i: int) -> str:
    tag = f"race{i}"
    pid = make_post(svc, tag)
    barrier = threading.Barrier(2)
    seen: list[str] = []

    def publisher() -> None:
        barrier.wait()
        jitter()
        svc.calendar.publish_due()

    def freezer() -> None:
        barrier.wait()
        jitter()
        seen.append(freeze_and_observe(svc.store, svc.channels, tag, pid))

    threads = [threading.Thread(target=publisher), threading.Thread(target=freezer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome(svc.store, pid, seen[0])


def run_thread_trials(svc: Crisis, trials: int) -> Counter[str]:
    return Counter(one_thread_trial(svc, i) for i in range(trials))


def real_clock_service(store: Store, catalog: Catalog, channels: dict[str, Channel]) -> Crisis:
    return Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channels)


def test_threads_never_publish_after_a_freeze(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel]
) -> None:
    results = run_thread_trials(real_clock_service(store, catalog, channel_map), TRIALS)
    assert results["VIOLATION"] == 0, results
    # Both orders happened, so the window was exercised: publishes won and freezes won.
    assert results["held"] > 0 and results["published before the freeze"] > 0, results


@pytest.mark.postgres
def test_the_harness_catches_a_missing_gate(
    catalog: Catalog, channel_map: dict[str, Channel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the gate, publishes slip past freezes: the harness must see it."""

    schema = PgSchema(pg_schema_engine_url())
    store = schema.store()
    try:
        store.upgrade()
        real_scopes = freezes.active_scopes

        def slow_scopes(conn: Any) -> Any:
            found = real_scopes(conn)
            time.sleep(0.005)  # widen the window between reading freezes and committing
            return found

        for module in (calendar, freezes):  # the publisher's names and the freeze's own
            monkeypatch.setattr(module, "gate_share", lambda conn: None)
            monkeypatch.setattr(module, "active_scopes", slow_scopes)
        monkeypatch.setattr(freezes, "gate_exclusive", lambda conn: None)
        results = run_thread_trials(real_clock_service(store, catalog, channel_map), 60)
        assert results["VIOLATION"] > 0, results
    finally:
        store.dispose()
        schema.drop()


# --- processes on PostgreSQL ----------------------------------------------------------------
def _child(role: str, url: str, start: Any, done: Any, jobs: Any, seen: Any) -> None:
    store = Store.from_url(url)
    channels = load_channels(CHANNELS)
    svc = Crisis(
        store=store,
        catalog=Catalog.load([PLAYBOOKS], channels=frozenset(channels)),
        clock=SystemClock(),
        channels=channels,
    )
    while True:
        job = jobs.get()
        if job is None:
            break
        tag, pid = job
        start.wait()
        jitter()
        if role == "publisher":
            svc.calendar.publish_due()
        else:
            seen.put(freeze_and_observe(store, channels, tag, pid))
        done.wait()
    store.dispose()


@pytest.mark.postgres
def test_processes_on_postgres_never_publish_after_a_freeze(
    catalog: Catalog, channel_map: dict[str, Channel]
) -> None:
    base = pg_schema_engine_url()
    schema = PgSchema(base)
    store = schema.store()
    ctx = mp.get_context("spawn")
    try:
        store.upgrade()
        svc = real_clock_service(store, catalog, channel_map)
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema.name}"
        start, done = ctx.Barrier(3), ctx.Barrier(3)
        pub_jobs, frz_jobs, seen = ctx.Queue(), ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(target=_child, args=("publisher", url, start, done, pub_jobs, seen)),
            ctx.Process(target=_child, args=("freezer", url, start, done, frz_jobs, seen)),
        ]
        for p in procs:
            p.start()
        results: Counter[str] = Counter()
        for i in range(TRIALS):
            tag = f"prace{i}"
            pid = make_post(svc, tag)
            pub_jobs.put((tag, pid))
            frz_jobs.put((tag, pid))
            start.wait(timeout=60)
            done.wait(timeout=60)
            results[outcome(store, pid, seen.get(timeout=60))] += 1
        pub_jobs.put(None)
        frz_jobs.put(None)
        for p in procs:
            p.join(timeout=60)
        for q in (pub_jobs, frz_jobs, seen):
            q.close()
            q.join_thread()
        assert results["VIOLATION"] == 0, results
        # Both orders happened, so the window was exercised: publishes won and freezes won.
        assert results["held"] > 0 and results["published before the freeze"] > 0, results
    finally:
        store.dispose()
        schema.drop()
