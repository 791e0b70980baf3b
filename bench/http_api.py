"""REST declare latency at 50 concurrent clients, and status-page throughput, over HTTP.

gunicorn (gthread) serves the app on a throw-away PostgreSQL schema; this process is the load
generator (50 keep-alive connections). Prints p50/p99 and requests per second.

    python bench/http_api.py [--declares 2000] [--status 6000] [--concurrency 50]
        [--workers 2] [--threads 16]

- declare: POST /api/v1/incidents (rail-disruption, sev2, a region each time): one
  transaction with the incident, its freeze, 7 escalation timers, the cadence timer and the
  timeline events, as an operator's API token.
- callbacks: POST /hooks/twilio/status, correctly signed, "sent" and "delivered" for each of
  ``--callbacks`` sent messages, in random order across the clients, in three rounds each
  against a /healthz run of the same size just before it; then the time the outbox
  takes to apply every receipt kept (``Delivery.apply_receipts``, as the worker does).
- status: GET /status with 20 public incidents and 60 published updates, three ways: a
  full page from the process cache, a conditional request answered 304, and
  /api/v2/summary.json; in three rounds, each with its own /healthz run first (the ratios are
  the median of the rounds).

PostgreSQL from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http import gunicorn, load  # noqa: E402
from bench._pg import base_url, schema_url  # noqa: E402
from engine.app import Crisis  # noqa: E402
from engine.delivery.worker import Worker  # noqa: E402
from engine.kernel.models import Actor  # noqa: E402
from engine.kernel.ports import SystemClock  # noqa: E402
from engine.playbooks.catalog import Catalog  # noqa: E402
from engine.playbooks.channels import load_channels  # noqa: E402
from engine.public.status_page import StatusPageNotifier  # noqa: E402
from engine.store import Store  # noqa: E402

ADMIN = Actor("bench", "admin")
TWILIO_TOKEN = "bench-twilio-auth-token"
REGIONS = ["lille", "calais", "paris", "london", "brussels"]
ROUNDS = 3  # read loads interleaved with /healthz, so a slow patch of the machine hits both


def seed(url: str) -> tuple[str, Crisis]:
    store = Store.from_url(url)
    store.upgrade()
    channels = load_channels(ROOT / "config" / "channels.yaml")
    svc = Crisis(
        store=store,
        catalog=Catalog.load([ROOT / "playbooks"], channels=frozenset(channels)),
        clock=SystemClock(),
        channels=channels,
    )
    svc.accounts.add_user(actor=ADMIN, username="op", role="operator")
    svc.accounts.add_user(actor=ADMIN, username="cl", role="comms_lead")
    return svc.accounts.create_token(actor=ADMIN, username="op", name="bench")[1], svc


def declarer(token: str) -> Callable[[int], tuple[str, str, bytes, dict[str, str]]]:
    """The i-th declare over the API (rail-disruption, sev2, a region each time)."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def declare(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        body = {
            "playbook": "rail-disruption", "severity": "sev2",
            "title": f"Bench {i}", "regions": [REGIONS[i % 5]],
        }  # fmt: skip
        return "POST", "/api/v1/incidents", json.dumps(body).encode(), auth

    return declare


def publish_incidents(svc: Crisis, n: int) -> None:
    """n public incidents with three published updates each, delivered to the status page."""
    op, cl = Actor("op", "operator"), Actor("cl", "comms_lead")
    for i in range(n):
        inc = svc.incidents.declare(
            actor=op, playbook="rail-disruption", severity=["sev1", "sev2", "sev3"][i % 3],
            title=f"Disruption {i} near {REGIONS[i % 5]}", regions=[REGIONS[i % 5]],
        )  # fmt: skip
        for k in range(3):
            u = svc.updates.draft_update(
                actor=op, incident_id=inc.id, audience="passengers",
                body=f"Update {k} on disruption {i}. Next update by 10:{k}0 GMT.",
            )  # fmt: skip
            svc.updates.approve_update(actor=cl, update_id=u["id"], revision=1)
    worker = Worker(
        owners=svc.owners,
        store=svc.store,
        notifiers={"status_page": StatusPageNotifier(store=svc.store, clock=svc.clock)},
        media={"status_page": "status_page"},
        clock=svc.clock,
    )
    while worker.run_once():
        pass
    worker.stop()


def callbacks(svc: Crisis, server: str, args: argparse.Namespace) -> None:
    """Signed status callbacks for ``args.callbacks`` sent messages, then their application."""
    import random
    import time
    from urllib.parse import urlencode

    import sqlalchemy as sa
    from twilio.request_validator import RequestValidator

    n = args.callbacks
    with svc.store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (kind, channel, address, body, meta, status, attempts,"
                " max_attempts, next_attempt_at, dedupe_key, created_at, updated_at, provider_id)"
                " SELECT 'update', 'sms', '+1555' || lpad(g::text, 7, '0'), 'x', '{}'::json,"
                " 'sent', 1, 6, now(), 'cb:' || g, now(), now(), 'SM' || lpad(g::text, 32, '0')"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": n},
        )
    validator = RequestValidator(TWILIO_TOKEN)
    url = f"{server}/hooks/twilio/status"
    order = [(i % n + 1, "sent" if i < n else "delivered") for i in range(2 * n)]
    random.Random(7).shuffle(order)

    def signed(k: int, status: str) -> tuple[str, str, bytes, dict[str, str]]:
        form = {"MessageSid": f"SM{k:032d}", "MessageStatus": status}
        return (
            "POST",
            "/hooks/twilio/status",
            urlencode(form).encode(),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": validator.compute_signature(url, form),
            },
        )

    # Signed before the clock starts: the load generator shares the server's cores, and its
    # own work should not count against the hook (a /healthz request costs it nothing).
    requests = [signed(k, status) for k, status in order]

    def callback(i: int) -> tuple[str, str, bytes, dict[str, str]]:
        return requests[i]

    ratios = []
    third = 2 * n // ROUNDS  # interleaved with /healthz, a third of the callbacks a round
    for k in range(ROUNDS):
        floor = load(server, lambda i: ("GET", "/healthz", None, {}),
                     concurrency=args.concurrency, total=third)  # fmt: skip
        r = load(server, lambda i, k=k: callback(k * third + i), concurrency=args.concurrency,
                 total=third if k < ROUNDS - 1 else 2 * n - k * third)  # fmt: skip
        assert set(r.statuses) == {204}, r.statuses
        print(floor.line(f"GET /healthz (the server's floor) #{k + 1}"))
        print(r.line(f"POST /hooks/twilio/status (signed) #{k + 1}"))
        ratios.append(r.rate / floor.rate)
    print(f"ratio to /healthz: status callbacks: {statistics.median(ratios):.2f} (median of "
          f"{ROUNDS} interleaved rounds: {', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip
    t = time.perf_counter()
    applied = svc.delivery.apply_receipts()
    took = time.perf_counter() - t
    with svc.store.engine.connect() as conn:
        done = conn.execute(
            sa.text("SELECT count(*) FROM deliveries WHERE dedupe_key LIKE 'cb:%' "
                    "AND status = 'delivered'")
        ).scalar()  # fmt: skip
    print(
        f"receipts applied in batches: {applied} in {took:.2f} s "
        f"({applied / took:,.0f}/s); {done} of {n} messages delivered"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--declares", type=int, default=2000)
    ap.add_argument("--status", type=int, default=6000)
    ap.add_argument("--callbacks", type=int, default=6000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()
    import os

    os.environ["TWILIO_AUTH_TOKEN"] = TWILIO_TOKEN  # the hooks' signing key, for gunicorn
    base = base_url()
    if not base:
        sys.exit("set CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL")
    print(
        f"HTTP on gunicorn -k gthread -w {args.workers} --threads {args.threads}, PostgreSQL; "
        f"{args.concurrency} concurrent keep-alive clients in a second process"
    )
    with tempfile.TemporaryDirectory() as tmp, schema_url(base) as url:
        token, svc = seed(url)
        log = Path(tmp) / "gunicorn.log"
        with gunicorn(url, workers=args.workers, threads=args.threads, log=log) as server:
            declare = declarer(token)
            load(server, declare, concurrency=args.concurrency, total=100)  # warm up
            r = load(server, declare, concurrency=args.concurrency, total=args.declares)
            print(r.line("POST /api/v1/incidents (declare)"))

            callbacks(svc, server, args)
            publish_incidents(svc, 20)
            page = load(server, lambda i: ("GET", "/status", None, {}), concurrency=1, total=1)
            import http.client

            c = http.client.HTTPConnection(*server.removeprefix("http://").split(":"))
            c.request("GET", "/status")
            resp = c.getresponse()
            resp.read()
            etag = resp.getheader("ETag") or ""
            assert page.statuses == {200: 1}
            reads = [
                ("GET /healthz (the server's floor)", "/healthz", {}),
                ("GET /status (full page)", "/status", {}),
                ("GET /status?v=<random> (full page)", "/status?v={i}", {}),
                ("GET /status (If-None-Match: 304)", "/status", {"If-None-Match": etag}),
                ("GET /api/v2/summary.json", "/api/v2/summary.json", {}),
            ]
            for _, path, headers in reads:  # warm up: every thread's connection, every cache
                load(server, lambda i, p=path, h=headers: ("GET", p.format(i=i), None, h),
                     concurrency=args.concurrency, total=200)  # fmt: skip
            ratios: dict[str, list[float]] = {}
            for k in range(ROUNDS):  # interleaved rounds: each read against the floor of its own
                floor = 0.0
                for label, path, headers in reads:
                    r = load(
                        server,
                        lambda i, p=path, h=headers: ("GET", p.format(i=i), None, h),
                        concurrency=args.concurrency,
                        total=args.status // ROUNDS,
                    )
                    print(r.line(f"{label} #{k + 1}"))
                    if "healthz" in label:
                        floor = r.rate
                    else:
                        ratios.setdefault(label, []).append(r.rate / floor)
            for label, xs in ratios.items():
                print(f"ratio to /healthz: {label}: {statistics.median(xs):.2f} (median of "
                      f"{ROUNDS} rounds: {', '.join(f'{x:.2f}' for x in xs)})")  # fmt: skip
        svc.store.dispose()


if __name__ == "__main__":
    main()
