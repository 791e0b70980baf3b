"""/status from the application against its static copy, on this machine, in one run.

The application: gunicorn (gthread) on a throw-away PostgreSQL schema with 20 public incidents
and 60 published updates, its page answered from the process cache. The copy: what
``web.static_copy`` writes from the same application (checked byte for byte), served by
Debian's nginx. The load generator is this process (``--concurrency`` keep-alive connections,
Python threads): on a 2-core machine it shares the CPU with both servers, so nginx's figure is
as much the generator's ceiling as nginx's. Interleaved rounds; prints each round and medians.

    python bench/static_copy.py [--requests 9000] [--concurrency 50] [--workers 2]
        [--threads 16]

PostgreSQL from CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL; nginx from PATH or
/usr/sbin/nginx (``apt-get install nginx``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http import free_port, gunicorn, load  # noqa: E402
from bench._pg import base_url, schema_url  # noqa: E402
from bench.http_api import publish_incidents, seed  # noqa: E402
from web import create_app  # noqa: E402
from web.config import Config, Secret  # noqa: E402
from web.static_copy import write  # noqa: E402

ROUNDS = 3


@contextmanager
def nginx(folder: Path, tmp: Path) -> Iterator[str]:
    """Debian's nginx serving ``folder`` as the README's server block does."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 2; pid {tmp}/nginx.pid; error_log {tmp}/nginx-error.log; daemon off;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types; access_log off; keepalive_requests 100000;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port}; root {folder};
    location / {{ try_files $uri $uri/index.html $uri.html =404; }}
  }}
}}
""")
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/status", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def body(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bytes(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=9000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()
    # Seeding sends only to the status page: the other channels' refusals are not news here.
    logging.getLogger("engine.delivery.worker").setLevel(logging.ERROR)
    base = base_url()
    if not base:
        sys.exit("set CRISIS_BENCH_POSTGRES_URL or CRISIS_TEST_POSTGRES_URL")
    print(
        f"GET /status: gunicorn -k gthread -w {args.workers} --threads {args.threads} on "
        f"PostgreSQL, against the static copy on nginx (2 workers); {args.concurrency} "
        "keep-alive clients in this process"
    )
    with tempfile.TemporaryDirectory() as tmp_, schema_url(base) as url:
        tmp = Path(tmp_)
        _, svc = seed(url)
        publish_incidents(svc, 20)
        folder = Path(tempfile.mkdtemp(prefix="crisis-static-copy-"))
        folder.chmod(0o755)  # nginx's workers run as another user
        try:
            config = Config(database_url=url, secret_key=Secret("bench-secret-key"))
            copied = write(create_app(config, crisis=svc), folder)
            print(f"static copy: {copied.files} files, {copied.bytes:,} bytes")
            log = tmp / "gunicorn.log"
            with (
                gunicorn(url, workers=args.workers, threads=args.threads, log=log) as app,
                nginx(folder, tmp) as static,
            ):
                same = body(app + "/status") == body(static + "/status")
                print(f"the copy's /status is byte-identical to the application's: {same}")
                page = lambda i: ("GET", "/status", None, {})  # noqa: E731
                for server in (app, static):  # warm up every connection and cache
                    load(server, page, concurrency=args.concurrency, total=500)
                rates: dict[str, list[float]] = {"app": [], "nginx": []}
                p99s: dict[str, list[float]] = {"app": [], "nginx": []}
                for k in range(ROUNDS):
                    for label, server in (("app", app), ("nginx", static)):
                        r = load(server, page, concurrency=args.concurrency,
                                 total=args.requests // ROUNDS)  # fmt: skip
                        name = "application" if label == "app" else "static copy"
                        print(r.line(f"GET /status, {name} #{k + 1}"))
                        rates[label].append(r.rate)
                        p99s[label].append(r.pct(99))
            for label in ("app", "nginx"):
                print(f"median {label}: {statistics.median(rates[label]):,.0f} req/s, "
                      f"p99 {statistics.median(p99s[label]):.1f} ms")  # fmt: skip
            ratio = [n / a for n, a in zip(rates["nginx"], rates["app"], strict=True)]
            print(f"ratio static copy / application, req/s: {statistics.median(ratio):.2f} "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratio)})")  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            svc.store.dispose()


if __name__ == "__main__":
    main()
