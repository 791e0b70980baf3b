"""A loopback proxy in front of a real counterpart that answers with queued faults instead of
forwarding (a 429, a 5xx, a refusal), so the contract's fault cases run against a real server
that cannot be told to fail (tests only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.http import Answer, serve

HOP = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}


class FaultProxy:
    def __init__(self, upstream: str, *, on: str = "") -> None:
        self.upstream = upstream.rstrip("/")
        self.on = on  # only requests whose path contains this can fail
        self.faults: list[Answer] = []

    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.faults.append((status, body or {"error": f"Fault{status}"}, headers or {}))

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              headers: dict[str, str]) -> Answer:  # fmt: skip
        if self.faults and self.on in path:
            return self.faults.pop(0)
        qs = urllib.parse.urlencode(query, doseq=True)
        req = urllib.request.Request(
            f"{self.upstream}{path}" + (f"?{qs}" if qs else ""), method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={k: v for k, v in headers.items() if k.lower() not in HOP},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, _json(resp.read()), {}
        except urllib.error.HTTPError as exc:
            data = exc.read()
            exc.close()
            return exc.code, _json(data), {}


def _json(data: bytes) -> Any:
    return json.loads(data) if data else None


@contextmanager
def fault_proxy(upstream: str, *, on: str = "") -> Iterator[tuple[FaultProxy, str]]:
    proxy = FaultProxy(upstream, on=on)
    with serve(proxy.route) as url:
        yield proxy, url
