"""Work that must not slow down as it accumulates (issue #22).

1. The outbox claim (64 rows, SKIP LOCKED) at 1,000 and at 100,000 pending rows, SQLite and
   PostgreSQL: median ms per claim and the ratio; on PostgreSQL the plans of both claim
   queries (EXPLAIN), to show which index serves them.
2. Declare at 100 and at 4,000 open incidents (SQLite, the embedded default): median ms per
   declare of rail-disruption at sev2 (incident, escalation and cadence timers, timeline) and
   the ratio.
3. Publishing an update to 100,000 people (PostgreSQL): the draft of a staff update (no
   approval) until every outbox row is written, in the drafting transaction.
4. Importing a list of 100,000 subscribers (CSV), SQLite and PostgreSQL.

    python bench/scale.py [--backlogs 1000,100000] [--opens 100,4000] [--claims 30]

PostgreSQL is taken from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import statistics
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
from engine.app import Crisis  # noqa: E402
from engine.delivery import outbox  # noqa: E402
from engine.kernel.models import Actor  # noqa: E402
from engine.kernel.ports import FakeClock  # noqa: E402
from engine.playbooks.catalog import Catalog  # noqa: E402
from engine.playbooks.channels import load_channels  # noqa: E402
from engine.schema import deliveries, subscribers  # noqa: E402
from engine.store import Store  # noqa: E402

OPERATOR = Actor("bench", "operator")


def fill(store: Store, n: int, now: datetime) -> None:
    """``n`` pending rows, due now, in chunks (a realistic shape: one update's fan-out)."""
    rows = [
        {
            "kind": "update",
            "channel": "sms",
            "address": f"+1555{i:07d}",
            "body": "Trains stopped.",
            "meta": {},
            "status": "pending",
            "attempts": 0,
            "max_attempts": 12,
            "next_attempt_at": now - timedelta(seconds=i % 600),
            "dedupe_key": f"bench:{i}",
            "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        for i in range(n)
    ]
    with store.transaction() as conn:
        for i in range(0, n, 5000):
            conn.execute(deliveries.insert(), rows[i : i + 5000])


def claim_ms(store: Store, *, claims: int, now: datetime) -> float:
    times = []
    for _ in range(claims):
        started = time.perf_counter()
        got = outbox.claim(store, now=now, limit=64, media={"sms": "sms"}, owners=outbox.Owners())
        times.append((time.perf_counter() - started) * 1000)
        ids = [c.message.delivery_id for c in got]
        with store.transaction() as conn:  # put them back: the backlog stays the same size
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids))
                .values(status="pending", lease_until=None, attempts=0)
            )
    return statistics.median(times)


DUE = (
    "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now "
    "ORDER BY next_attempt_at, id LIMIT 64 FOR UPDATE SKIP LOCKED"
)
EXPIRED = (
    "SELECT id FROM deliveries WHERE status = 'sending' AND lease_until < :now "
    "ORDER BY lease_until, id LIMIT 64 FOR UPDATE SKIP LOCKED"
)


def plans(store: Store, now: datetime) -> list[str]:
    """The claim queries' plans (PostgreSQL): which index serves each."""
    out = []
    with store.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE deliveries"))
        for name, q in (("due", DUE), ("expired leases", EXPIRED)):
            lines = [r[0] for r in conn.execute(sa.text("EXPLAIN " + q), {"now": now})]
            used = [ln.strip() for ln in lines if "Index" in ln or "Seq Scan" in ln]
            out.append(f"{name}: {'; '.join(used) or lines[0].strip()}")
    return out


def bench_claims(backlogs: list[int], claims: int) -> None:
    now = datetime.now(UTC)
    backends = ["sqlite"] + (["postgres"] if base_url() else [])
    for backend in backends:
        results = {}
        for n in backlogs:
            if backend == "sqlite":
                tmp = tempfile.TemporaryDirectory()
                store = Store.from_url(f"sqlite:///{tmp.name}/claims.db")
                store.upgrade()
                fill(store, n, now)
                results[n] = claim_ms(store, claims=claims, now=now)
                store.dispose()
                tmp.cleanup()
            else:
                with schema_url(str(base_url())) as url:
                    store = Store.from_url(url)
                    store.upgrade()
                    fill(store, n, now)
                    results[n] = claim_ms(store, claims=claims, now=now)
                    if n == max(backlogs):
                        for line in plans(store, now):
                            print(f"  plan at {n:,} ({backend}): {line}")
                    store.dispose()
        lo, hi = min(backlogs), max(backlogs)
        for n in backlogs:
            print(f"claim 64 at {n:>7,} pending ({backend:8}): median {results[n]:6.2f} ms")
        print(f"claim ratio {hi:,}/{lo:,} ({backend}): {results[hi] / results[lo]:.2f}")


def bench_declares(opens: list[int], declares: int) -> None:
    channels = load_channels(ROOT / "config" / "channels.yaml")
    catalog = Catalog.load([ROOT / "playbooks"], channels=frozenset(channels))
    results = {}
    for n in opens:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.from_url(f"sqlite:///{tmp}/declares.db")
            store.upgrade()
            crisis = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channels)
            for i in range(n):
                crisis.incidents.declare(actor=OPERATOR, playbook="rail-disruption",
                                         severity="sev2", title=f"open {i}")  # fmt: skip
            times = []
            for i in range(declares):
                started = time.perf_counter()
                crisis.incidents.declare(actor=OPERATOR, playbook="rail-disruption",
                                         severity="sev2", title=f"timed {i}")  # fmt: skip
                times.append((time.perf_counter() - started) * 1000)
            results[n] = statistics.median(times)
            store.dispose()
    lo, hi = min(opens), max(opens)
    for n in opens:
        print(f"declare at {n:>5,} open incidents (sqlite): median {results[n]:6.2f} ms")
    print(f"declare ratio {hi:,}/{lo:,} (sqlite): {results[hi] / results[lo]:.2f}")


def bench_publish(recipients: int) -> None:
    """Approve an update to ``recipients`` passengers (staff: no approval needed, so the
    draft publishes at once): time until every outbox row is written (PostgreSQL)."""
    if not base_url():
        print("publish: not run (no PostgreSQL)")
        return
    channels = load_channels(ROOT / "config" / "channels.yaml")
    catalog = Catalog.load([ROOT / "playbooks"], channels=frozenset(channels))
    now = datetime.now(UTC)
    with schema_url(str(base_url())) as url:
        store = Store.from_url(url)
        store.upgrade()
        people = [
            {
                "audience": "staff",
                "phone": f"+1555{i:07d}",
                "opted_in": True,
                "created_at": now,
                "confirmed_at": now,
                "source": "admin",
            }  # fmt: skip
            for i in range(recipients)
        ]
        with store.transaction() as conn:
            for i in range(0, recipients, 5000):
                conn.execute(subscribers.insert(), people[i : i + 5000])
        crisis = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channels)
        inc = crisis.incidents.declare(actor=OPERATOR, playbook="rail-disruption",
                                       severity="sev2", title="bench")  # fmt: skip
        seen: dict[str, float] = {}

        def watch() -> None:  # when the first row is visible to another connection (a worker)
            q = sa.select(deliveries.c.id).where(deliveries.c.subscriber_id.is_not(None)).limit(1)
            with store.engine.connect() as conn:
                while "first" not in seen and time.perf_counter() - started < 60:
                    if conn.execute(q).first() is not None:
                        seen["first"] = time.perf_counter()
                    conn.rollback()
                    time.sleep(0.002)

        def acknowledge() -> None:  # someone acknowledges the incident 200 ms into the publish
            time.sleep(0.2)
            began = time.perf_counter()
            crisis.incidents.acknowledge(actor=OPERATOR, incident_id=inc.id)
            seen["ack"] = time.perf_counter() - began

        started = time.perf_counter()
        threads = [threading.Thread(target=watch), threading.Thread(target=acknowledge)]
        for t in threads:
            t.start()
        crisis.updates.draft_update(actor=OPERATOR, incident_id=inc.id, audience="staff",
                                    body="Stand by. Next update by 10:00 GMT.")  # fmt: skip
        took = time.perf_counter() - started
        for t in threads:
            t.join()
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one()
        store.dispose()
    first = seen.get("first", float("nan")) - started
    print(f"publish to {recipients:,} (postgres): {rows:,} outbox rows written in {took:.2f} s")
    print(f"publish to {recipients:,} (postgres): first rows committed after {first:.2f} s")
    print(f"publish to {recipients:,} (postgres): an acknowledgement 0.2 s into it took "
          f"{seen.get('ack', float('nan')) * 1000:.0f} ms")  # fmt: skip


def bench_import(rows: int) -> None:
    """``crisis subscribers import`` of a CSV of ``rows`` people (SQLite, and PostgreSQL)."""
    channels = load_channels(ROOT / "config" / "channels.yaml")
    catalog = Catalog.load([ROOT / "playbooks"], channels=frozenset(channels))
    text = "audience,name,phone,email,region,language\n" + "".join(
        f"passengers,Person {i},+4477009{i:05d},p{i}@example.org,,en\n" for i in range(rows)
    )
    admin = Actor("bench", "admin")
    targets = [("sqlite", None)] + ([("postgres", base_url())] if base_url() else [])
    for backend, pg in targets:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = schema_url(str(pg)) if pg else None
            url = ctx.__enter__() if ctx else f"sqlite:///{tmp}/import.db"
            store = Store.from_url(url)
            store.upgrade()
            crisis = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channels)
            started = time.perf_counter()
            result = crisis.audience.import_subscribers(actor=admin, text=text)
            took = time.perf_counter() - started
            store.dispose()
            if ctx:
                ctx.__exit__(None, None, None)
        print(
            f"import {rows:,} subscribers ({backend:8}): {result['added']:,} added in {took:.2f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backlogs", default="1000,100000")
    ap.add_argument("--opens", default="100,4000")
    ap.add_argument("--claims", type=int, default=30)
    ap.add_argument("--declares", type=int, default=50)
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--only", choices=["claims", "declares", "publish", "import"])
    args = ap.parse_args()
    if args.only == "publish":
        return bench_publish(args.recipients)
    bench_claims([int(x) for x in args.backlogs.split(",")], args.claims)
    bench_declares([int(x) for x in args.opens.split(",")], args.declares)
    bench_publish(args.recipients)
    bench_import(args.recipients)


if __name__ == "__main__":
    main()
