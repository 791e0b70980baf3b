"""The blast: an update to 100,000 people over the API, while people keep using the API.

gunicorn serves the app on a throw-away PostgreSQL schema with ``--recipients`` staff
subscribers; one worker process (default settings) sends to the asyncio Twilio stand-in at
150 ms latency. An operator's POST of a staff update (no approval needed: it publishes at
once, as an approval does) is timed until its response, by which all its outbox rows are
written; the stand-in says when the first SMS reached it. Meanwhile 4 clients read the
incident and an update (GET /api/v1/incidents/{id}, /api/v1/updates/{id}), each pausing
50 ms between requests (about 70 requests a second in all: operators' pages, not a load
test): their p99 before the blast (idle) and during it (from the POST on, while the rows are
written and the first messages go out).

    python bench/blast.py [--recipients 100000] [--reads 600]

PostgreSQL from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http import Result, gunicorn, load  # noqa: E402
from bench._pg import base_url, make_engine, schema_url  # noqa: E402
from bench.fanout import BODY, CTX, _stats, standin, worker_process  # noqa: E402
from bench.http_api import seed  # noqa: E402
from engine.kernel.ports import SystemClock  # noqa: E402
from engine.schema import subscribers  # noqa: E402

READERS = 4
PAUSE = 0.05  # between one reader's requests: operators' pages refreshing, not a flood


def people(svc: object, count: int) -> None:
    now = SystemClock().now()
    rows = [
        {"audience": "staff", "phone": f"+1555{i:07d}", "opted_in": True, "created_at": now,
         "confirmed_at": now, "source": "admin"}
        for i in range(count)
    ]  # fmt: skip
    with svc.store.transaction() as conn:  # type: ignore[attr-defined]
        for i in range(0, count, 10_000):
            conn.execute(subscribers.insert(), rows[i : i + 10_000])


def request(base: str, method: str, path: str, token: str, body: object = None) -> object:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)  # fmt: skip
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    if resp.status >= 400:
        raise RuntimeError(f"{method} {path}: {resp.status} {data}")
    return data


def reads(base: str, token: str, paths: list[str], *, total: int) -> Result:
    auth = {"Authorization": f"Bearer {token}"}
    return load(base, lambda i: ("GET", paths[i % len(paths)], None, auth),
                concurrency=READERS, total=total, pause=PAUSE)  # fmt: skip


def watch(db: str, seen: dict[str, float]) -> None:
    """When the update's first outbox row is visible to another connection (a worker's)."""
    import sqlalchemy as sa

    engine = make_engine(db)
    q = sa.text("SELECT 1 FROM deliveries WHERE subscriber_id IS NOT NULL LIMIT 1")
    with engine.connect() as conn:
        while "first" not in seen:
            if conn.execute(q).first() is not None:
                seen["first"] = time.time()
            conn.rollback()
            time.sleep(0.002)
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--reads", type=int, default=600)
    args = ap.parse_args()
    if not base_url():
        print("blast: not run (no PostgreSQL)")
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        schema_url(str(base_url())) as db,
        standin(latency=0.15) as twilio,
    ):
        token, svc = seed(db)
        people(svc, args.recipients)
        svc.store.dispose()
        go, done, cpu = CTX.Event(), CTX.Event(), CTX.Queue()
        worker = CTX.Process(target=worker_process, args=(db, twilio, None, go, done, cpu))
        worker.start()
        go.set()
        with gunicorn(db, workers=2, threads=16, log=Path(tmp) / "gunicorn.log") as base:
            inc = request(base, "POST", "/api/v1/incidents", token, {
                "playbook": "rail-disruption", "severity": "sev2", "title": "Blast",
            })  # fmt: skip
            iid = inc["id"]  # type: ignore[index]
            earlier = request(base, "POST", f"/api/v1/incidents/{iid}/updates", token,
                              {"audience": "passengers", "body": "Trains held."})  # fmt: skip
            paths = [f"/api/v1/incidents/{iid}", f"/api/v1/updates/{earlier['id']}"]  # type: ignore[index]
            reads(base, token, paths, total=200)  # warm
            idle = reads(base, token, paths, total=args.reads)
            during: list[Result] = []
            reader = threading.Thread(
                target=lambda: during.append(reads(base, token, paths, total=args.reads))
            )
            seen: dict[str, float] = {}
            watcher = threading.Thread(target=watch, args=(db, seen), daemon=True)
            watcher.start()
            started = time.time()
            reader.start()
            t0 = time.perf_counter()
            update = request(base, "POST", f"/api/v1/incidents/{iid}/updates", token,
                             {"audience": "staff", "body": BODY})  # fmt: skip
            took = time.perf_counter() - t0
            reader.join()
            deadline = time.monotonic() + 60
            while not _stats(twilio)["first"] and time.monotonic() < deadline:
                time.sleep(0.05)
            first = _stats(twilio)["first"] - started
            committed = seen.get("first", float("nan")) - started
            sent = _stats(twilio)["accepted"]
            after = request(base, "GET", f"/api/v1/updates/{update['id']}", token)  # type: ignore[index]
        done.set()
        cpu.get(timeout=60)
        worker.join()
    n = args.recipients
    rows = after["deliveries"]  # type: ignore[index]
    print(f"blast to {n:,}: POST answered (all outbox rows written) in {took:.2f} s; "
          f"status then {update['status']}, deliveries now {rows}")  # type: ignore[index]  # fmt: skip
    print(
        f"blast to {n:,}: first rows visible to other connections {committed:.2f} s after "
        "the POST began"
    )
    print(f"blast to {n:,}: first SMS at the stand-in {first:.2f} s after the POST began "
          f"({sent:,} accepted by the end of the reads)")  # fmt: skip
    print(idle.line("API reads idle"))
    print(during[0].line("API reads during the blast"))
    print(f"API p99 during / idle: {during[0].pct(99) / idle.pct(99):.2f}×")


if __name__ == "__main__":
    main()
