"""REST declare latency at 50 concurrent clients, and status-page throughput, over HTTP.

gunicorn (gthread) serves the app on a throw-away PostgreSQL schema; this process is the load
generator (50 keep-alive connections). Prints p50/p99 and requests per second.

    python bench/http_api.py [--declares 2000] [--status 6000] [--concurrency 50]
        [--workers 2] [--threads 16]

- declare: POST /api/v1/incidents (rail-disruption, sev2, a region each time): one
  transaction with the incident, its freeze, 7 escalation timers, the cadence timer and the
  timeline events, as an operator's API token.
- status: GET /status with 20 public incidents and 60 published updates, three ways: a
  full page from the process cache, a conditional request answered 304, and
  /api/v2/summary.json.

PostgreSQL from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
REGIONS = ["lille", "calais", "paris", "london", "brussels"]


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
                body=f"Update {k} on disruption {i}. Next update by 10:{k}0.",
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


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--declares", type=int, default=2000)
    ap.add_argument("--status", type=int, default=6000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()
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
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def declare(i: int) -> tuple[str, str, bytes, dict[str, str]]:
                body = {
                    "playbook": "rail-disruption", "severity": "sev2",
                    "title": f"Bench {i}", "regions": [REGIONS[i % 5]],
                }  # fmt: skip
                return "POST", "/api/v1/incidents", json.dumps(body).encode(), auth

            load(server, declare, concurrency=args.concurrency, total=100)  # warm up
            r = load(server, declare, concurrency=args.concurrency, total=args.declares)
            print(r.line("POST /api/v1/incidents (declare)"))

            publish_incidents(svc, 20)
            page = load(server, lambda i: ("GET", "/status", None, {}), concurrency=1, total=1)
            import http.client

            c = http.client.HTTPConnection(*server.removeprefix("http://").split(":"))
            c.request("GET", "/status")
            resp = c.getresponse()
            resp.read()
            etag = resp.getheader("ETag") or ""
            assert page.statuses == {200: 1}
            rates = {}
            for label, path, headers in [
                ("GET /healthz (the server's floor)", "/healthz", {}),
                ("GET /status (full page)", "/status", {}),
                ("GET /status?v=<random> (full page)", "/status?v={i}", {}),
                ("GET /status (If-None-Match: 304)", "/status", {"If-None-Match": etag}),
                ("GET /api/v2/summary.json", "/api/v2/summary.json", {}),
            ]:
                r = load(
                    server,
                    lambda i, p=path, h=headers: ("GET", p.format(i=i), None, h),
                    concurrency=args.concurrency,
                    total=args.status,
                )
                rates[label] = r.rate
                print(r.line(label))
            floor = rates["GET /healthz (the server's floor)"]
            for label, rate in rates.items():
                if "healthz" not in label:
                    print(f"ratio to /healthz: {label}: {rate / floor:.2f}")
        svc.store.dispose()


if __name__ == "__main__":
    main()
