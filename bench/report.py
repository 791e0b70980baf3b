"""Run every benchmark and rewrite BENCHMARKS.md with today's date, this machine and the figures.

    python bench/report.py            # all of them (about five minutes on 2 cores)
    python bench/report.py --quick    # smaller runs, to check the programs work

PostgreSQL from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL (benchmarks that need it
are reported as not run without it). Run it on a quiet machine: the figures are only as good
as the machine is idle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._pg import base_url  # noqa: E402


@dataclass(frozen=True)
class Bench:
    title: str
    args: list[str]
    quick: list[str]
    needs_postgres: bool
    notes: str


BENCHES = [
    Bench(
        "Timer lateness (issue #3)",
        ["bench/timers.py"],
        ["bench/timers.py", "--count", "1000", "--window", "10"],
        False,
        """Goal: p99 ≤ 250 ms. Lateness is `fired_at − due_at`, stamped when each timer's effect
runs. The effect is a no-op, so this measures the alarm clock and the claim path (`SKIP
LOCKED`, incident-first locking), not the paging work a real step does.""",
    ),
    Bench(
        "Declare → freeze committed (issue #4)",
        ["bench/freeze.py"],
        ["bench/freeze.py", "--declares", "30", "--sizes", "1000,10000"],
        False,
        """Goals: p99 ≤ 50 ms, 100k/1k ratio ≤ 1.5. What is timed is the whole
`Crisis.incidents.declare` of rail-disruption at sev1: the incident, the playbook's freeze
(through the freeze gate), the escalation ladder's timers, the cadence timer and the timeline
events, in one transaction; when it returns the freeze is committed. No publisher runs at the
same time, so the gate is not contended here; `tests/integration/test_freeze_race.py` covers
contention for correctness.""",
    ),
    Bench(
        "Fan-out at the provider's speed (issues #5, #22)",
        ["bench/fanout.py", "--faults"],
        [
            "bench/fanout.py",
            "--count",
            "1000",
            "--latencies",
            "0.15",
            "--limited",
            "100",
            "--rounds",
            "1",
        ],  # fmt: skip
        True,
        """Goals (issue #22): at 150 ms provider latency one worker with default settings sends
≥ 0.9× the asynchronous bare client at 200 in flight with CPU per message ≤ 1.5× that client's;
at latency 0, ≥ 0.8× the bare client at the same concurrency; with 2% timeouts and 30% 429/500,
2,000 SMS within 3× the no-fault time, each delivered once; a configured rate held within ±5%.
The stand-in (`bench/_standin.py`) is asyncio in its own process, faster than Twilio; the real
`twilio` client is in every arm. The async bare client uses the same aiohttp-based HTTP client
as the engine (`notifiers.twilio_common.CrisisAsyncHttpClient`), so the ratio is the price of
the outbox. The async bare client and one worker run three times, interleaved; the ratios
to read are the medians on the "one worker vs bare async" line (one run of either arm can be a
fifth off on this shared machine). CPU is the sending process's user+system time;
PostgreSQL's own is not in it. A timed-out request in the fault run created no message at
the stand-in (Twilio never saw it).""",
    ),
    Bench(
        "The million-recipient scale model (issue #22)",
        ["bench/million.py"],
        ["bench/million.py", "--count", "50000", "--seconds", "15"],
        True,
        """Goal (issue #22): 1,000,000 recipients across 10 senders paced at 100 MPS each
(1,000 MPS in all) against the stand-in at 150 ms, on PostgreSQL: the rate held, or where this
machine cannot, CPU per message and the worker processes the rate needs; memory flat. The run
sends for 60 s of the million (the rest stays queued): long enough to see the rate and the
memory settle, short enough for `make bench`.""",
    ),
    Bench(
        "REST declare at 50 concurrent clients, and the status page (issue #9)",
        ["bench/http_api.py"],
        ["bench/http_api.py", "--declares", "300", "--status", "1000"],
        True,
        """gunicorn `-k gthread -w 2 --threads 16` on PostgreSQL; the load comes from a second
process (Python threads with keep-alive connections), which shares the same 2 cores with the
server, so these are figures for the pair on this machine, not the server's ceiling. A declare
is one transaction: incident, freeze, escalation timers, cadence timer, timeline events.
A status callback is answered before Flask (`web/callbacks.py`): one HMAC over the URL,
its receipt joined to the others arriving at the same moment in one INSERT (a group commit),
then 204; a callback it cannot vouch for takes the Flask view as before. The status page
answers from a per-process cache keyed by a weak ETag; each process reads what was last
published at most once a second, so a conditional request costs no query and no body.""",
    ),
    Bench(
        "The status page from the application and from its static copy (issue #17)",
        ["bench/static_copy.py"],
        ["bench/static_copy.py", "--requests", "1500"],
        True,
        """GET /status with 20 public incidents and 60 updates: gunicorn (`-k gthread -w 2
--threads 16`) on PostgreSQL answering from its per-process page cache, against the copy
`web.static_copy` wrote from the same application (checked byte for byte) on Debian's nginx
with 2 workers. The load generator is Python threads in the bench's process on the same 2
cores: nginx's figure is bounded by it, so the ratio understates the copy's headroom. The
point of the copy is not speed but that it answers while the application or its database is
down (tested in `tests/integration/test_static_copy.py`).""",
    ),
    Bench(
        "Freeze connectors: declare → every platform confirmed (issue #14)",
        ["bench/connectors.py"],
        ["bench/connectors.py", "--runs", "2", "--items", "40"],
        False,
        """Freeze → connector confirmed for each platform: 100 scheduled items in scope, every call
to the counterpart taking 100 ms, on the real outbox worker (8 threads) over SQLite. The
counterparts are the stateful fakes and mastodon-mock (with a latency rule), not the real
services. Time goes to the network: one scan (pages plus, for SendGrid, each scheduled Single
Send's details, eight at a time) and then 100 pauses eight at a time, so about 13 rounds of
100 ms after the scan. Before the details were read eight at a time, SendGrid took 12.4 s (8.1
items/s): the scan read 100 details one by one.""",
    ),
    Bench(
        "Work that must not slow down as it accumulates (issue #22)",
        ["bench/scale.py"],
        ["bench/scale.py", "--backlogs", "500,5000", "--opens", "20,200", "--recipients", "5000"],
        False,
        """Goals (issue #22): claim at 100,000 pending within 2× of 1,000 with the index used;
declare at 4,000 open incidents within 1.2× of 100; publish to 100,000 ≤ 2 s. A claim takes
64 rows (and they are put back, so the backlog stays the same size). A declare is
rail-disruption at sev2 on SQLite. The publish is a staff update (no approval) to 100,000
subscribers on PostgreSQL, timed until every outbox row is written (the subscribers' rows go
in after the approval commits, in slices: the first thousand, then 25,000 at a time); the
first slice is seen from another connection, and an acknowledgement of the incident is timed
200 ms into the publish.""",
    ),
    Bench(
        "The blast over the API: 100,000 recipients while people use the API (issue #22)",
        ["bench/blast.py"],
        ["bench/blast.py", "--recipients", "5000", "--reads", "300"],
        True,
        """Goals (issue #22): approve → all rows written ≤ 2 s on PostgreSQL, the first SMS
within 1 s of the approval, the API's p99 during the blast within 2× idle. gunicorn
(`-w 2 --threads 16`) and one worker process with default settings, the Twilio stand-in at
150 ms; the update is a staff update, which publishes when it is posted as an approval does.
The POST answers once every outbox row is written. The reads (4 clients) run while the update
is written and its first messages go out; load generator, server, worker, stand-in and
PostgreSQL share the 2 cores.""",
    ),
    Bench(
        "The embedded default with several operators at once (issue #22)",
        ["bench/embedded.py"],
        ["bench/embedded.py", "--declares", "60"],
        False,
        """Goal (issue #22): declare over the API at 4 concurrent clients on `crisis serve`
(SQLite) with p99 ≤ 100 ms. `crisis serve` is one process (web, alarm clock and outbox
worker), so its requests share one interpreter; writers take turns on the process's own lock
before SQLite's. The load generator is a second process on the same 2 cores.""",
    ),
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    pg = "PostgreSQL: not configured"
    if base_url():
        try:
            import sqlalchemy as sa

            from engine.store import make_engine

            eng = make_engine(base_url() or "")
            with eng.connect() as conn:
                version = conn.execute(sa.text("show server_version")).scalar_one()
            eng.dispose()
            pg = f"PostgreSQL {version} on the same machine over loopback"
        except Exception as exc:  # the report says what happened
            pg = f"PostgreSQL unreachable ({type(exc).__name__})"
    return (
        f"{os.cpu_count()} vCPU ({cpu}){mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version} (WAL) on local "
        f"disk, {pg}"
    )


def run(bench: Bench, quick: bool) -> tuple[str, float]:
    if bench.needs_postgres and not base_url():
        return "not run: set CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL", 0.0
    args = bench.quick if quick else bench.args
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=3600
    )
    took = time.monotonic() - started
    out = proc.stdout.strip()
    if proc.returncode != 0:
        out += f"\n(exit {proc.returncode})\n{proc.stderr.strip()[-2000:]}"
    return out, took


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = ap.parse_args()
    today = dt.date.today().isoformat()
    parts = [
        "# Benchmarks\n",
        "Written by `make bench` (`python bench/report.py`): every figure below comes from the "
        "programs in `bench/`, run one after another on the machine named here, on the date "
        "given. They are measurements, not assertions: the tests never time anything.\n",
        f"Date: {today}{' (quick run: smaller sizes)' if args.quick else ''}  \n"
        f"Machine: {machine()}. Shared machine: other work may run beside.\n",
    ]
    for bench in BENCHES:
        print(f"running {' '.join(bench.quick if args.quick else bench.args)} …", flush=True)
        out, took = run(bench, args.quick)
        print(out, flush=True)
        command = "python " + " ".join(bench.quick if args.quick else bench.args)
        parts.append(
            f"## {bench.title}\n\n`{command}` ({took:.0f} s):\n\n```\n{out}\n```\n\n{bench.notes}\n"
        )
    history = ROOT / "bench" / "HISTORY.md"
    if history.exists():
        parts.append(history.read_text())
    args.output.write_text("\n".join(parts))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
