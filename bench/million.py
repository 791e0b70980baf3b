"""The scale model: 1,000,000 recipients across 10 senders paced at 100 MPS each (PostgreSQL).

The outbox holds a million SMS rows, spread over ten channels (ten Twilio senders, a short
code's 100 messages a second each: 1,000 MPS in all), and worker processes with default
settings send them to the asyncio stand-in at 150 ms latency for ``--seconds``. Every five
seconds the run samples what was sent, per sender, and each worker's memory (RSS). It reports
the rate held against the providers' 1,000 MPS, CPU per message, memory over time, and how
many worker processes (at one core each) the full rate needs on this machine.

    python bench/million.py [--count 1000000] [--seconds 60] [--workers 1]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url, schema_url  # noqa: E402
from bench._standin import ACCOUNT  # noqa: E402
from bench.fanout import BODY, TOKEN, standin  # noqa: E402

SENDERS = 10
RATE = 100.0
CTX = mp.get_context("spawn")


def fill(db: str, count: int) -> None:
    """The schema, and ``count`` pending rows round-robin over the senders (one statement)."""
    import sqlalchemy as sa

    from engine.store import Store

    store = Store.from_url(db)
    store.upgrade()
    with store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (kind, channel, address, body, meta, status, attempts,"
                " max_attempts, next_attempt_at, dedupe_key, created_at, updated_at)"
                " SELECT 'update', 'sms' || (g % :senders), '+1555' || lpad(g::text, 7, '0'),"
                " :body, '{}'::json, 'pending', 0, 6, now(), 'million:' || g, now(), now()"
                " FROM generate_series(1, :count) AS g"
            ),
            {"senders": SENDERS, "body": BODY, "count": count},
        )
        conn.execute(sa.text("ANALYZE deliveries"))
    store.dispose()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker_process(db: str, url: str, go: Any, done: Any, report: Any) -> None:
    from engine.delivery.outbox import Owners
    from engine.delivery.worker import Worker
    from engine.kernel.ports import SystemClock
    from engine.store import Store
    from notifiers.twilio_common import make_client
    from notifiers.twilio_sms import TwilioSmsNotifier

    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=url)
    channels = [f"sms{i}" for i in range(SENDERS)]
    worker = Worker(
        store=Store.from_url(db),
        owners=Owners(),
        media=dict.fromkeys(channels, "sms"),
        notifiers={
            ch: TwilioSmsNotifier(client=client, sender=f"+1500555{i:04d}")
            for i, ch in enumerate(channels)
        },
        rates=dict.fromkeys(channels, RATE),
        clock=SystemClock(),
    )
    go.wait()
    start = time.process_time()
    worker.start()
    while not done.wait(5):
        report.put(("rss", os.getpid(), rss_mb()))
    worker.stop()
    report.put(("cpu", os.getpid(), time.process_time() - start))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    base = base_url()
    assert base, "set CRISIS_BENCH_POSTGRES_URL (or CRISIS_TEST_POSTGRES_URL)"
    import sqlalchemy as sa

    from engine.store import Store

    with standin(latency=0.15) as url, schema_url(base) as db:
        t = time.perf_counter()
        fill(db, args.count)
        print(f"{args.count:,} rows over {SENDERS} senders in {time.perf_counter() - t:.1f} s")
        go, done, report = CTX.Event(), CTX.Event(), CTX.Queue()
        procs = [
            CTX.Process(target=worker_process, args=(db, url, go, done, report))
            for _ in range(args.workers)
        ]
        for p in procs:
            p.start()
        time.sleep(4)
        store = Store.from_url(db)
        sent_q = sa.text(
            "SELECT channel, count(*) FROM deliveries WHERE status = 'sent' GROUP BY channel"
        )
        t0 = time.perf_counter()
        go.set()
        samples: list[tuple[float, int]] = []
        per: dict[str, int] = {}
        while time.perf_counter() - t0 < args.seconds:
            time.sleep(5)
            with store.engine.connect() as conn:
                per = {ch: int(n) for ch, n in conn.execute(sent_q)}
            samples.append((time.perf_counter() - t0, sum(per.values())))
            print(f"  {samples[-1][0]:5.0f} s  {samples[-1][1]:>9,} sent")
        done.set()
        cpu, rss = 0.0, {}
        for _ in procs:
            while True:
                kind, pid, value = report.get(timeout=120)
                if kind == "rss":
                    rss.setdefault(pid, []).append(value)
                    continue
                cpu += value
                break
        for p in procs:
            p.join()
        with store.engine.connect() as conn:
            sent = sum(int(n) for _ch, n in conn.execute(sent_q))
        store.dispose()
    elapsed, first = samples[-1][0], samples[0]
    steady = (samples[-1][1] - first[1]) / (samples[-1][0] - first[0]) if len(samples) > 1 else 0
    per_msg = cpu / max(1, sent)
    print(f"{args.workers} worker process(es), {elapsed:.0f} s, {sent:,} sent")
    print(f"  rate held (after the first 5 s): {steady:,.0f} MPS of {SENDERS * RATE:,.0f}")
    print(f"  per sender: {min(per.values()) / elapsed:.0f}–{max(per.values()) / elapsed:.0f} MPS")
    print(f"  CPU per message: {per_msg * 1000:.2f} ms")
    for pid, values in rss.items():
        print(f"  worker {pid} RSS: {' '.join(f'{v:.0f}' for v in values)} MB")
    print(
        f"  the full {SENDERS * RATE:,.0f} MPS needs {SENDERS * RATE * per_msg:.1f} cores of "
        f"worker CPU: {max(1, int(SENDERS * RATE * per_msg + 0.999))} worker process(es) here"
    )


if __name__ == "__main__":
    main()
