"""Timer lateness: 10,000 pending timers due within 60 s, fired by the alarm clock.

Prints p50/p99/max lateness (fired_at − due_at, where fired_at is stamped as each timer's
effect runs) for SQLite with one process (the embedded default is single-process) and for
PostgreSQL with two processes sharing the work. The timers' effect is a no-op, so this
measures the alarm clock and the claim path, not paging.

    python bench/timers.py [--count 10000] [--window 60] [--backend sqlite|postgres|both]

PostgreSQL is taken from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url, schema_url  # noqa: E402
from engine.kernel.ports import SystemClock  # noqa: E402
from engine.schema import timers  # noqa: E402
from engine.store import Store  # noqa: E402
from web.alarm import AlarmClock  # noqa: E402

START_DELAY = 5.0  # seconds before the first timer falls due: time for processes to start


def child(url: str) -> None:
    """Run an alarm clock with a no-op handler until SIGTERM."""
    store = Store.from_url(url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    alarm = AlarmClock(
        store=store,
        handlers={"bench": lambda conn, row, now: "ok"},
        clock=SystemClock(),
        node=f"bench:{os.getpid()}",
        safety=2.0,
    )
    alarm.start()
    stop.wait()
    alarm.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(url: str, *, processes: int, count: int, window: float, label: str) -> dict[str, float]:
    store = Store.from_url(url)
    store.upgrade()
    now = datetime.now(UTC)
    rng = random.Random(7)
    rows = [
        {
            "kind": "bench",
            "incident_id": None,
            "state": "pending",
            "payload": {},
            "dedupe_key": f"bench:{i}",
            "attempts": 0,
            "created_at": now,
            "due_at": now + timedelta(seconds=START_DELAY + rng.uniform(0, window)),
        }
        for i in range(count)
    ]
    with store.transaction() as conn:
        for i in range(0, count, 1000):
            conn.execute(timers.insert(), rows[i : i + 1000])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    procs = [
        subprocess.Popen([sys.executable, __file__, "--child", url], cwd=ROOT, env=env)
        for _ in range(processes)
    ]
    try:
        deadline = time.monotonic() + START_DELAY + window + 120
        while time.monotonic() < deadline:
            with store.engine.connect() as conn:
                pending = conn.execute(
                    sa.select(sa.func.count()).where(timers.c.state == "pending")
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.5)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    with store.engine.connect() as conn:
        fired = conn.execute(
            sa.select(timers.c.due_at, timers.c.fired_at, timers.c.fired_by).where(
                timers.c.state == "done"
            )
        ).all()
    store.dispose()
    late = [(r.fired_at - r.due_at).total_seconds() * 1000 for r in fired]
    nodes = len({r.fired_by for r in fired})
    result = {
        "fired": len(fired),
        "p50_ms": percentile(late, 0.50),
        "p99_ms": percentile(late, 0.99),
        "max_ms": max(late),
        "mean_ms": statistics.fmean(late),
        "nodes": nodes,
    }
    print(
        f"{label:<28} fired {len(fired):>6}/{count}  lateness p50 {result['p50_ms']:7.1f} ms"
        f"  p99 {result['p99_ms']:7.1f} ms  max {result['max_ms']:7.1f} ms"
        f"  (processes that fired: {nodes})",
        flush=True,
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"timer lateness: {args.count} timers due uniformly within {args.window:.0f} s")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(
                f"sqlite:///{tmp}/bench.db",
                processes=1,
                count=args.count,
                window=args.window,
                label="SQLite, 1 process",
            )
    if args.backend in ("postgres", "both"):
        base = base_url()
        if not base:
            print("PostgreSQL skipped: set CRISIS_BENCH_POSTGRES_URL")
            return
        with schema_url(base) as url:
            run(
                url,
                processes=2,
                count=args.count,
                window=args.window,
                label="PostgreSQL, 2 processes",
            )


if __name__ == "__main__":
    main()
