"""A small, fast fake of Twilio's Messages and Calls APIs on loopback.

It checks Basic auth, records every request, answers 201 with a sid, and can be told to
fail: ``fail_next(status, code, retry_after=None)`` or ``hang_next(seconds)`` for timeouts.
For conformance with Twilio's real request schema use Prism (test_twilio_prism.py).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

ACCOUNT = "AC" + "0" * 32
TOKEN = "fake-auth-token"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and hung up is part of the test, not an error."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._faults: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.delay = 0.0  # seconds every answer takes
        self.accepted: list[str] = []  # the To of every message answered 201
        self._storm: tuple[random.Random, float, float, float] | None = None
        self.invalid_suffix: str | None = None  # numbers ending so are refused (21211)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender died mid-request (SIGKILL): a real server
                    self.close_connection = True  # never sees a message, and nor do we
                    return
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                fake._handle(self, form)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail_next(self, status: int, code: int, *, retry_after: int | None = None) -> None:
        with self._lock:
            self._faults.append(("fail", (status, code, retry_after)))

    def storm(self, *, seed: int, errors: float, timeouts: float, hang: float) -> None:
        """From now on answer ``errors`` of requests with 500 or 429 (Retry-After: 1) and
        leave ``timeouts`` of them hanging for ``hang`` seconds before answering."""
        self._storm = (random.Random(seed), errors, timeouts, hang)

    def hang_next(self, seconds: float) -> None:
        with self._lock:
            self._faults.append(("hang", seconds))

    def _answer(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
        if h.headers.get("Authorization") != expected:
            self._answer(h, 401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        kind = "call" if h.path.endswith("/Calls.json") else "message"
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests.append({"path": h.path, "kind": kind, "form": form})
            fault = self._faults.popleft() if self._faults else None
            if (
                fault is None
                and self.invalid_suffix
                and form.get("To", "").endswith(self.invalid_suffix)
            ):
                fault = ("fail", (400, 21211, None))
            if fault is None and self._storm is not None:
                rng, errors, timeouts, hang = self._storm
                roll = rng.random()
                if roll < errors / 2:
                    fault = ("fail", (500, 20500, None))
                elif roll < errors:
                    fault = ("fail", (429, 20429, 1))
                elif roll < errors + timeouts:
                    fault = ("hang", hang)
        if fault and fault[0] == "hang":
            time.sleep(fault[1])
        elif fault:
            status, code, retry_after = fault[1]
            headers = {"Retry-After": str(retry_after)} if retry_after else None
            self._answer(
                h,
                status,
                {"code": code, "message": f"fake error {code}", "more_info": "", "status": status},
                headers,
            )
            return
        with self._lock:
            self.accepted.append(form.get("To", ""))
        prefix = "CA" if kind == "call" else "SM"
        sid = f"{prefix}{next(self._ids):032x}"
        self._answer(
            h, 201, {"sid": sid, "status": "queued", "to": form.get("To"), "account_sid": ACCOUNT}
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
