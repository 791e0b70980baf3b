"""Declare → freeze-committed latency against calendars of 1k, 10k and 100k scheduled posts.

Times the real `Crisis.incidents.declare` of rail-disruption at sev1: one transaction that
inserts the incident, creates the playbook's freeze (through the freeze gate), plans the escalation
ladder and the cadence timer, and commits. When it returns, the freeze is committed and no
matching post can be published. Prints p50/p99 per calendar size and the 100k/1k ratio.

    python bench/freeze.py [--declares 200] [--sizes 1000,10000,100000]
        [--backend sqlite|postgres|both]

PostgreSQL is taken from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url, schema_url  # noqa: E402
from engine.app import Crisis  # noqa: E402
from engine.kernel.models import Actor  # noqa: E402
from engine.kernel.ports import SystemClock  # noqa: E402
from engine.playbooks.catalog import Catalog  # noqa: E402
from engine.playbooks.channels import load_channels  # noqa: E402
from engine.schema import posts  # noqa: E402
from engine.store import Store  # noqa: E402

OPERATOR = Actor("bench", "operator")
CHANNELS = ["twitter", "facebook", "instagram", "newsletter"]
TAGS = [["promo"], ["promo", "xmas"], ["operational"], ["engineering"]]


def fill(store: Store, n: int) -> None:
    """Schedule ``n`` posts over the next 30 days (none falls due during the run)."""
    rng = random.Random(n)
    now = datetime.now(UTC)
    batch = []
    with store.transaction() as conn:
        for i in range(n):
            batch.append(
                {
                    "channel": rng.choice(CHANNELS),
                    "body": f"post {i}",
                    "publish_at": now + timedelta(hours=1, seconds=rng.randrange(30 * 86400)),
                    "tags": rng.choice(TAGS),
                    "regions": [],
                    "author": "bench",
                    "state": "scheduled",
                    "held_by": [],
                    "review": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) == 5000:
                conn.execute(posts.insert(), batch)
                batch = []
        if batch:
            conn.execute(posts.insert(), batch)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(url: str, *, size: int, declares: int) -> dict[str, float]:
    store = Store.from_url(url)
    store.upgrade()
    channels = load_channels(ROOT / "config" / "channels.yaml")
    catalog = Catalog.load([ROOT / "playbooks"], channels=frozenset(channels))
    svc = Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channels)
    fill(store, size)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(posts)).scalar_one() == size
    for _ in range(5):  # warm-up: caches, the machine's first version row
        svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev1",
            title="warm-up",
            regions=["lille"],
        )
    times = []
    for i in range(declares):
        t0 = time.perf_counter()
        svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev1",
            title=f"Trains stopped {i}",
            regions=["lille", "calais"],
        )
        times.append((time.perf_counter() - t0) * 1000)
    store.dispose()
    return {"p50": percentile(times, 0.5), "p99": percentile(times, 0.99)}


def report(label: str, results: dict[int, dict[str, float]]) -> None:
    for size, r in results.items():
        print(
            f"{label:<11} {size:>7} posts  declare→freeze committed  p50 {r['p50']:6.2f} ms"
            f"  p99 {r['p99']:6.2f} ms",
            flush=True,
        )
    sizes = sorted(results)
    lo, hi = results[sizes[0]], results[sizes[-1]]
    print(
        f"{label:<11} ratio {sizes[-1]}/{sizes[0]}: p50 {hi['p50'] / lo['p50']:.2f}  "
        f"p99 {hi['p99'] / lo['p99']:.2f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--declares", type=int, default=200)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"declare→freeze committed: {args.declares} declares per calendar size")
    if args.backend in ("sqlite", "both"):
        results = {}
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                results[size] = measure(
                    f"sqlite:///{tmp}/bench.db", size=size, declares=args.declares
                )
        report("SQLite", results)
    if args.backend in ("postgres", "both"):
        base = base_url()
        if not base:
            print("PostgreSQL skipped: set CRISIS_BENCH_POSTGRES_URL")
            return
        results = {}
        for size in sizes:
            with schema_url(base) as url:
                results[size] = measure(url, size=size, declares=args.declares)
        report("PostgreSQL", results)


if __name__ == "__main__":
    main()
