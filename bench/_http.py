"""Start gunicorn (gthread) on a throw-away PostgreSQL schema, and a keep-alive load generator.

The load generator is this process: ``concurrency`` threads, each with its own persistent HTTP
connection, sending ``total`` requests between them. It is Python, so on a 2-core machine it
competes with the server for CPU; figures are for this machine, and say so.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(url: str, *, workers: int, threads: int, log: Path) -> Iterator[str]:
    """Serve ``web:create_app()`` on ``url``'s database; yield the base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers),
        "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--keep-alive", "30",
        "web:create_app()",
    ]  # fmt: skip
    with _server(command, url, port, log) as base:
        yield base


@contextmanager
def crisis_serve(url: str, *, log: Path) -> Iterator[str]:
    """``crisis serve`` (the web app, its alarm clock and outbox worker in one process, as
    ``make run`` starts it) on ``url``'s database; yield the base URL."""
    port = free_port()
    command = [sys.executable, "-m", "web", "serve", "--port", str(port)]
    with _server(command, url, port, log) as base:
        yield base


@contextmanager
def _server(command: list[str], url: str, port: int, log: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(
        CRISIS_DATABASE_URL=url,
        CRISIS_SECRET_KEY="bench-secret-key-not-for-production",
        CRISIS_AUTO_MIGRATE="0",
        CRISIS_LOG_LEVEL="WARNING",
    )
    out = log.open("ab")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{command[2]} did not start: {log.read_text()[-2000:]}")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        out.close()


@dataclass
class Result:
    latencies: list[float]  # seconds
    seconds: float
    statuses: dict[int, int]

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self, label: str) -> str:
        return (
            f"{label:<38} n={len(self.latencies):<6} p50 {self.pct(50):7.1f} ms  "
            f"p99 {self.pct(99):7.1f} ms  mean {statistics.fmean(self.latencies) * 1000:6.1f} ms  "
            f"{self.rate:7.0f} req/s  statuses {dict(sorted(self.statuses.items()))}"
        )


def load(
    base: str,
    request: Callable[[int], tuple[str, str, bytes | None, dict[str, str]]],
    *,
    concurrency: int,
    total: int,
    pause: float = 0.0,
) -> Result:
    """Send ``total`` requests from ``concurrency`` keep-alive connections at once; with
    ``pause``, each client waits that long between its requests (people, not a flood)."""
    host, port = base.removeprefix("http://").split(":")
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        start.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            method, path, body, headers = request(i)
            t0 = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            took = time.perf_counter() - t0
            with lock:
                latencies.append(took)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if pause:
                time.sleep(pause)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return Result(latencies, time.perf_counter() - t0, statuses)
