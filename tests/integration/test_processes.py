"""Real `crisis worker` processes: SIGKILL and restart, and three at once on PostgreSQL.

Each timer's effect must happen exactly once: one `paged` event per ladder step, one
`escalation_exhausted` per incident, every timer row done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.keys import DEVELOPMENT_SECRET
from engine.kernel.ports import FakeClock
from engine.paging.rosterdb import parse_roster
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.schema import events, timers
from engine.store import Store
from tests.conftest import ADMIN, OPERATOR, ROOT, TEST_ROSTER, PgSchema, pg_schema_engine_url

STEPS_PER_INCIDENT = 6  # rail-disruption: 3 steps, repeat 1


def seed_overdue(store: Store, catalog: Catalog, channels: dict[str, Channel], n: int) -> None:
    """Declare ``n`` incidents two hours ago: their whole ladders are overdue now."""
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=2))
    svc = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    svc.roster.load_roster(actor=ADMIN, seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    for i in range(n):
        svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev1",
            title=f"Overdue {i}",
            regions=["lille"],
        )


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    """Start `crisis worker`; its output goes to ``log`` (a pipe could fill and block it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(
        CRISIS_DATABASE_URL=url,
        CRISIS_SECRET_KEY=DEVELOPMENT_SECRET,
        CRISIS_AUTO_MIGRATE="0",
        PYTHONUNBUFFERED="1",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "web", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def timer_states(store: Store) -> Counter[str]:
    with store.engine.connect() as conn:
        return Counter(
            {
                r.state: r.n
                for r in conn.execute(
                    sa.select(timers.c.state, sa.func.count().label("n")).group_by(timers.c.state)
                )
            }
        )


def wait_until_drained(
    store: Store, procs: list[subprocess.Popen[bytes]], log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = timer_states(store)
        if states.get("pending", 0) == 0 and sum(states.values()) > 0:
            return
        for p in procs:
            if p.poll() is not None:
                out = log.read_text(errors="replace")
                pytest.fail(f"worker exited early ({p.returncode}):\n{out[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"timers not drained in {timeout}s: {timer_states(store)}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def assert_each_fired_once(store: Store, incidents: int) -> None:
    with store.engine.connect() as conn:
        paged = conn.execute(
            sa.select(events.c.incident_id, events.c.data).where(events.c.type == "paged")
        ).all()
        exhausted = conn.execute(
            sa.select(events.c.incident_id).where(events.c.type == "escalation_exhausted")
        ).all()
        not_done = conn.execute(
            sa.select(sa.func.count()).where(timers.c.state != "done")
        ).scalar_one()
    per_step = Counter((r.incident_id, r.data["step"]) for r in paged)
    assert len(per_step) == incidents * STEPS_PER_INCIDENT
    assert max(per_step.values()) == 1, per_step.most_common(3)
    assert sorted(Counter(r.incident_id for r in exhausted).values()) == [1] * incidents
    assert not_done == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, str]]:
    """A migrated store and the URL a worker process should use for it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'procs.db'}"
        store = Store.from_url(url)
        store.upgrade()
        yield store, url
        store.dispose()
        return
    schema = PgSchema(pg_schema_engine_url())
    store = schema.store()
    store.upgrade()
    try:
        yield store, schema.process_url
    finally:
        store.dispose()
        schema.drop()


def test_sigkill_while_timers_are_overdue_then_restart_fires_each_once(
    db: tuple[Store, str], catalog: Catalog, channel_map: dict[str, Channel], tmp_path: Path
) -> None:
    store, url = db
    n = 150
    seed_overdue(store, catalog, channel_map, n)
    total = sum(timer_states(store).values())
    log = tmp_path / "worker.log"
    worker = start_worker(url, log)
    deadline = time.monotonic() + 60
    while timer_states(store).get("done", 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done_at_kill = timer_states(store).get("done", 0)
    assert 0 < done_at_kill < total, "the kill should land while timers are still overdue"
    restarted = start_worker(url, log)
    try:
        wait_until_drained(store, [restarted], log)
    finally:
        stop([restarted])
    assert_each_fired_once(store, n)


@pytest.mark.postgres
def test_three_workers_on_postgres_fire_500_timers_exactly_once(
    catalog: Catalog, channel_map: dict[str, Channel], tmp_path: Path
) -> None:
    schema = PgSchema(pg_schema_engine_url())
    store = schema.store()
    try:
        store.upgrade()
        n = 63  # 63 incidents × 8 timers = 504, plus the cadence escalations they create
        seed_overdue(store, catalog, channel_map, n)
        assert sum(timer_states(store).values()) >= 500
        url = schema.process_url
        log = tmp_path / "workers.log"
        procs = [start_worker(url, log) for _ in range(3)]
        try:
            wait_until_drained(store, procs, log)
        finally:
            stop(procs)
        assert_each_fired_once(store, n)
    finally:
        store.dispose()
        schema.drop()
