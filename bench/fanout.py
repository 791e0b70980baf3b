"""Fan-out: 10,000 SMS through the real twilio client to a fast fake Twilio on loopback.

1. The engine: publish one update to 10,000 subscribers and let the outbox worker send it
   (claims, sends, records every outcome in the database), at a given concurrency.
2. A bare loop: the same twilio client, the same number of threads, no database at all.
   The ratio engine/bare is the price of durability (goal ≥ 0.8).
3. A 50 messages/s limit on the channel: the achieved rate (goal within ±5%).

The fake Twilio runs in its own process so it does not share the benchmark's GIL.

    python bench/fanout.py [--count 10000] [--concurrency 8] [--limited 500] [--rate 50]
        [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url, schema_url  # noqa: E402
from engine.app import Crisis  # noqa: E402
from engine.delivery.worker import Worker  # noqa: E402
from engine.kernel.models import Actor  # noqa: E402
from engine.kernel.ports import SystemClock  # noqa: E402
from engine.playbooks.catalog import Catalog  # noqa: E402
from engine.playbooks.channels import Channel, load_channels  # noqa: E402
from engine.store import Store  # noqa: E402
from notifiers.twilio_common import make_client  # noqa: E402
from notifiers.twilio_sms import TwilioSmsNotifier  # noqa: E402


def serve_fake(queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from tests.fakes.twilio import FakeTwilio

    fake = FakeTwilio()
    fake.requests = _NoList()  # type: ignore[assignment]  # do not keep 10k requests
    queue.put(fake.url)
    while True:
        time.sleep(3600)


class _NoList(list):  # type: ignore[type-arg]
    def append(self, item: object) -> None:
        pass


def engine_run(
    url: str, fake: str, *, count: int, concurrency: int, rate: float | None
) -> tuple[float, int]:
    from tests.fakes.twilio import ACCOUNT, TOKEN

    store = Store.from_url(url)
    store.upgrade()
    channels = load_channels(ROOT / "config" / "channels.yaml")
    sms = channels["sms"]
    channels["sms"] = Channel(sms.name, "twilio_sms", sms.medium, sms.sender, rate_per_second=rate)
    svc = Crisis(
        store=store,
        catalog=Catalog.load([ROOT / "playbooks"], channels=frozenset(channels)),
        clock=SystemClock(),
        channels=channels,
    )
    with store.transaction() as conn:
        from engine.schema import subscribers

        now = SystemClock().now()
        conn.execute(
            subscribers.insert(),
            [
                {
                    "audience": "staff",
                    "phone": f"+1555{i:07d}",
                    "opted_in": True,
                    "created_at": now,
                    "confirmed_at": now,
                }
                for i in range(count)
            ],
        )
    iid = svc.incidents.declare(
        actor=Actor("bench", "operator"),
        playbook="rail-disruption",
        severity="sev3",
        title="Fan-out",
    ).id
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake)
    worker = Worker(
        store=store,
        owners=svc.owners,
        media={n: c.medium for n, c in channels.items()},
        notifiers={
            "sms": TwilioSmsNotifier(client=client, sender="+15005550006"),
            "email": _Drop(),
        },
        rates={"sms": rate} if rate else None,
        clock=SystemClock(),
        concurrency=concurrency,
        batch=max(64, concurrency * 8),
    )
    svc.updates.draft_update(
        actor=Actor("bench", "operator"),
        incident_id=iid,
        audience="staff",
        body="Staff briefing: trains held at Lille. Next update by 10:00.",
    )
    t0 = time.perf_counter()
    sent = 0
    while True:
        n = worker.run_once()
        if n == 0:
            break
        sent += n
    elapsed = time.perf_counter() - t0
    worker.stop()
    store.dispose()
    return elapsed, sent


class _Drop:
    def send(self, message: object) -> object:
        from engine.kernel.ports import Receipt

        return Receipt(provider_id="drop")


def bare_run(fake: str, *, count: int, concurrency: int) -> float:
    from tests.fakes.twilio import ACCOUNT, TOKEN

    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake)

    def one(i: int) -> None:
        client.messages.create(
            to=f"+1555{i:07d}",
            from_="+15005550006",
            body="Staff briefing: trains held at Lille. Next update by 10:00.",
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limited", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    server = ctx.Process(target=serve_fake, args=(queue,), daemon=True)
    server.start()
    fake = queue.get(timeout=30)
    try:
        bare = bare_run(fake, count=args.count, concurrency=args.concurrency)

        def database(run: str) -> tuple[float, int]:
            if args.backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    return engine_run(
                        f"sqlite:///{tmp}/fanout.db",
                        fake,
                        count=args.count if run == "full" else args.limited,
                        concurrency=args.concurrency,
                        rate=None if run == "full" else args.rate,
                    )
            base = base_url()
            assert base, "set CRISIS_BENCH_POSTGRES_URL"
            with schema_url(base) as url:
                return engine_run(
                    url,
                    fake,
                    count=args.count if run == "full" else args.limited,
                    concurrency=args.concurrency,
                    rate=None if run == "full" else args.rate,
                )

        eng, sent = database("full")
        if sent != args.count:
            sys.exit(f"the engine sent {sent} of {args.count}: the run is not a measurement")
        print(f"fan-out of {args.count} SMS, concurrency {args.concurrency}, {args.backend}")
        print(f"  bare twilio-client loop   {args.count / bare:8.0f} msg/s  ({bare:.2f} s)")
        print(f"  engine (outbox + worker)  {sent / eng:8.0f} msg/s  ({eng:.2f} s, {sent} sent)")
        print(f"  ratio engine/bare         {bare / eng:8.2f}")
        lim, n = database("limited")
        achieved = n / lim
        print(
            f"  limited to {args.rate:.0f} msg/s: achieved {achieved:.2f} msg/s over {n} "
            f"messages ({(achieved / args.rate - 1) * 100:+.1f}%)"
        )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
