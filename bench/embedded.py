"""The embedded default under several operators at once: REST declares on ``crisis serve``.

``crisis serve`` (the web app with its alarm clock and outbox worker in one process, as
``make run`` starts it) on a SQLite database in a temporary directory. Declares of
rail-disruption at sev2 from 1 client, then from 4 at once (keep-alive connections, this
process): p50/p99 of each, and the p99 ratio.

    python bench/embedded.py [--declares 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http import crisis_serve, load  # noqa: E402
from bench.http_api import declarer, seed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--declares", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/crisis.db"
        token, svc = seed(url)
        svc.store.dispose()
        with crisis_serve(url, log=Path(tmp) / "serve.log") as server:
            declare = declarer(token)
            load(server, declare, concurrency=1, total=20)  # warm up
            results = {}
            for clients in (1, 4):
                r = load(server, declare, concurrency=clients, total=args.declares)
                results[clients] = r
                print(r.line(f"declare, crisis serve (SQLite), {clients} client(s)"))
            one, four = results[1].pct(99), results[4].pct(99)
            print(f"declare p99, 4 clients / 1 client: {four / one:.2f}× ({four:.1f} ms)")


if __name__ == "__main__":
    main()
