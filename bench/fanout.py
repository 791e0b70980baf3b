"""Fan-out: SMS through the real twilio client to a loopback stand-in faster than Twilio.

The stand-in (bench/_standin.py) is asyncio in its own process and answers after a set
latency (0, and 150 ms: a real API round trip). At each latency, in one run:

1. bare threads: the twilio client in 8 threads, no database (the old engine's shape; a
   tenth of the messages at 150 ms, where it manages about 50 a second);
2. bare async: the twilio client on asyncio (``create_async``) with 200 requests in flight,
   no database: what the provider allows one process;
3. the engine: one update published to N subscribers, sent by ``crisis worker``'s Worker with
   its default settings (claims, sends, every outcome written to the database); then the same
   with two worker processes.

Each arm prints messages per second and CPU per message (the process's user+system time over
the messages it sent; the database server's own CPU is not in it). ``--faults`` adds the fault
run: 2,000 SMS to a sender paced at 100 MPS (a short code) with 2% of requests timing out and
30% answered 429 or 500, against the same without faults. The async bare client and one
worker run ``--rounds`` times, interleaved, and their ratio is the median of the rounds: on a
shared machine one run of either arm can be a fifth off.

    python bench/fanout.py [--count 10000] [--backend postgres|sqlite] [--latencies 0,0.15]
        [--faults] [--rate 50 --limited 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url, schema_url  # noqa: E402
from bench._standin import ACCOUNT, serve  # noqa: E402
from notifiers.twilio_common import async_twin, make_client  # noqa: E402

TOKEN = "stand-in-token"
BODY = "Staff briefing: trains held at Lille. Next update by 10:00 GMT (CET)."
CTX = mp.get_context("spawn")


@contextmanager
def standin(**faults: float) -> Iterator[str]:
    ports: Any = CTX.Queue()
    proc = CTX.Process(target=serve, args=(ports,), kwargs=faults, daemon=True)
    proc.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=30)}"
    finally:
        proc.terminate()
        proc.join()


def bare_threads(url: str, *, count: int, threads: int) -> tuple[float, float]:
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=url)

    def one(i: int) -> None:
        client.messages.create(to=f"+1555{i:07d}", from_="+15005550006", body=BODY)

    cpu, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - t0, time.process_time() - cpu


def bare_async(url: str, *, count: int, in_flight: int) -> tuple[float, float]:
    client = async_twin(make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=url))

    async def run() -> None:
        gate = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with gate:
                await client.messages.create_async(
                    to=f"+1555{i:07d}", from_="+15005550006", body=BODY
                )

        await asyncio.gather(*(one(i) for i in range(count)))
        await client.http_client.aclose()

    cpu, t0 = time.process_time(), time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - t0, time.process_time() - cpu


def _crisis(db: str, rate: float | None) -> Any:
    from engine.app import Crisis
    from engine.kernel.ports import SystemClock
    from engine.playbooks.catalog import Catalog
    from engine.playbooks.channels import Channel, load_channels
    from engine.store import Store

    store = Store.from_url(db)
    channels = load_channels(ROOT / "config" / "channels.yaml")
    sms = channels["sms"]
    channels["sms"] = Channel(sms.name, "twilio_sms", sms.medium, sms.sender, rate_per_second=rate)
    return Crisis(
        store=store,
        catalog=Catalog.load([ROOT / "playbooks"], channels=frozenset(channels)),
        clock=SystemClock(),
        channels=channels,
    )


def publish(db: str, count: int) -> None:
    """N staff subscribers, an incident, one staff update: N outbox rows, pending."""
    from engine.kernel.models import Actor
    from engine.kernel.ports import SystemClock
    from engine.schema import subscribers

    svc = _crisis(db, None)
    svc.store.upgrade()
    now = SystemClock().now()
    with svc.store.transaction() as conn:
        conn.execute(
            subscribers.insert(),
            [
                {"audience": "staff", "phone": f"+1555{i:07d}", "opted_in": True,
                 "created_at": now, "confirmed_at": now}
                for i in range(count)
            ],
        )  # fmt: skip
    actor = Actor("bench", "operator")
    iid = svc.incidents.declare(
        actor=actor, playbook="rail-disruption", severity="sev3", title="Fan-out"
    ).id
    svc.updates.draft_update(actor=actor, incident_id=iid, audience="staff", body=BODY)
    svc.store.dispose()


def worker_process(db: str, url: str, rate: float | None, go: Any, done: Any, cpu: Any) -> None:
    """One ``crisis worker``'s outbox Worker, default settings, until told to stop."""
    from engine.delivery.worker import Worker
    from notifiers.twilio_sms import TwilioSmsNotifier

    svc = _crisis(db, rate)
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=url)
    worker = Worker(
        store=svc.store,
        owners=svc.owners,
        media={n: c.medium for n, c in svc.channels.items()},
        notifiers={"sms": TwilioSmsNotifier(client=client, sender="+15005550006")},
        rates={"sms": rate} if rate else None,
        clock=svc.clock,
    )
    go.wait()
    start = time.process_time()
    worker.start()
    done.wait()
    worker.stop()
    cpu.put(time.process_time() - start)


def engine(db: str, url: str, *, processes: int, rate: float | None = None) -> tuple[float, float]:
    """Seconds until every row is written sent (or final), and CPU seconds of the workers."""
    import sqlalchemy as sa

    from engine.store import Store

    go, done, cpu = CTX.Event(), CTX.Event(), CTX.Queue()
    procs = [
        CTX.Process(target=worker_process, args=(db, url, rate, go, done, cpu))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(4)  # imports and connections, before the clock starts
    store = Store.from_url(db)
    open_ = sa.text("SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')")
    t0 = time.perf_counter()
    go.set()
    while True:
        time.sleep(0.05)
        with store.engine.connect() as conn:
            if not conn.execute(open_).scalar():
                break
    elapsed = time.perf_counter() - t0
    done.set()
    used = sum(cpu.get(timeout=60) for _ in procs)
    for p in procs:
        p.join()
    store.dispose()
    return elapsed, used


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/fanout.db"
        return
    base = base_url()
    assert base, "set CRISIS_BENCH_POSTGRES_URL (or CRISIS_TEST_POSTGRES_URL)"
    with schema_url(base) as url:
        yield url


def line(name: str, count: int, secs: float, cpu: float, against: float | None = None) -> str:
    ratio = f"  {count / secs / against:5.2f}×" if against else ""
    return (
        f"  {name:<34} {count / secs:7.0f} msg/s  {cpu / count * 1000:6.2f} ms CPU/msg"
        f"  ({secs:.2f} s){ratio}"
    )


def fanout(args: argparse.Namespace, latency: float) -> None:
    n = args.count
    print(f"latency {latency * 1000:.0f} ms, {n} SMS, {args.backend}")
    with standin(latency=latency) as url:
        few = n if latency == 0 else max(200, n // 10)  # 8 threads at 150 ms: 50 msg/s
        secs, cpu = bare_threads(url, count=few, threads=8)
        threads = few / secs
        print(line("bare client, 8 threads", few, secs, cpu))
        rates: list[float] = []  # one worker against the async bare client, per round
        cpus: list[float] = []
        for k in range(args.rounds):  # interleaved: the machine's mood moves both arms
            mark = f" #{k + 1}" if args.rounds > 1 else ""
            secs, cpu = bare_async(url, count=n, in_flight=200)
            best = n / secs
            print(line(f"bare client, async, 200 in flight{mark}", n, secs, cpu))
            bare_cpu = cpu / n
            for processes in (1, 2) if k == 0 else (1,):
                with database(args.backend) as db:
                    publish(db, n)
                    secs, cpu = engine(db, url, processes=processes)
                name = f"engine, {processes} worker{'s' if processes > 1 else ''}"
                print(line(f"{name}{mark}", n, secs, cpu, against=best))
                if processes == 1:
                    rates.append(n / secs / best)
                    cpus.append(cpu / n / bare_cpu)
                    if k == 0:
                        print(f"    vs 8 threads: {n / secs / threads:.2f}×")
        print(
            f"  one worker vs bare async: {statistics.median(rates):.2f}× the rate, "
            f"{statistics.median(cpus):.2f}× the CPU per message (median of {len(rates)} "
            f"interleaved rounds: {', '.join(f'{r:.2f}' for r in rates)})"
        )


def faults(args: argparse.Namespace) -> None:
    n, rate = 2000, 100.0
    print(f"faults: {n} SMS to one sender paced at {rate:.0f} MPS, latency 150 ms, {args.backend}")
    times = {}
    for name, kw in (
        ("no faults", {}),
        ("2% timeouts, 30% 429/500", {"errors": 0.3, "timeouts": 0.02, "hang": 20.0}),
    ):
        with standin(latency=0.15, **kw) as url, database(args.backend) as db:
            publish(db, n)
            secs, _cpu = engine(db, url, processes=1, rate=rate)
            stats = _stats(url)
        times[name] = secs
        print(
            f"  {name:<28} {secs:7.1f} s  accepted {stats['accepted']}, unique "
            f"{stats['unique']}, requests {stats['requests']}, faults {stats['faults']}"
        )
    a, b = times.values()
    print(f"  with faults / without: {b / a:.2f}×")


def _stats(url: str) -> dict[str, int]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def limited(args: argparse.Namespace) -> None:
    with standin(latency=0.0) as url, database(args.backend) as db:
        publish(db, args.limited)
        secs, _ = engine(db, url, processes=1, rate=args.rate)
    achieved = args.limited / secs
    print(
        f"limited to {args.rate:.0f} msg/s: achieved {achieved:.2f} msg/s over {args.limited} "
        f"messages ({(achieved / args.rate - 1) * 100:+.1f}%)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    ap.add_argument("--latencies", default="0,0.15")
    ap.add_argument("--faults", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limited", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0)
    args = ap.parse_args()
    for latency in (float(x) for x in args.latencies.split(",")):
        fanout(args, latency)
    limited(args)
    if args.faults:
        faults(args)


if __name__ == "__main__":
    main()
