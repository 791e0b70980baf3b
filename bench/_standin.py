"""A loopback stand-in for Twilio's Messages API, faster than the real one: asyncio, no framework.

POST .../Messages.json answers 201 with a message resource after ``latency`` seconds (a real
API round trip is ~150 ms), keeping every connection alive. Faults, drawn per request from a
seeded generator: ``errors`` of requests answer 429 (Retry-After: 1) or 500, half each;
``timeouts`` of them are held without an answer for ``hang`` seconds and then dropped, and
such a request creates no message (Twilio never saw it), so a retry is not a duplicate.
GET /stats answers what was accepted: {"accepted", "unique", "requests", "faults"}.

Run it in its own process so it does not share the benchmark's GIL:

    serve(port_queue, latency=0.15, errors=0.3, timeouts=0.02, hang=20, seed=1)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from typing import Any

ACCOUNT = "AC" + "0" * 32


class _Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.accepted = 0
        self.faults = 0
        self.first = 0.0  # wall-clock time the first message arrived
        self.seen: set[bytes] = set()


def _answer(status: int, body: dict[str, Any], headers: str = "") -> bytes:
    data = json.dumps(body).encode()
    reason = {200: "OK", 201: "Created", 429: "Too Many Requests", 500: "Server Error"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n{headers}\r\n"
    )
    return head.encode() + data


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    latency: float,
    faults: tuple[random.Random, float, float, float],
    stats: _Stats,
    ids: itertools.count[int],
) -> None:
    rng, errors, timeouts, hang = faults
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, rest = head.partition(b"\r\n")
            length = 0
            for line in rest.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            if request_line.startswith(b"GET /stats"):
                writer.write(
                    _answer(200, {"accepted": stats.accepted, "unique": len(stats.seen),
                                  "requests": stats.requests, "faults": stats.faults,
                                  "first": stats.first})
                )  # fmt: skip
                continue
            stats.requests += 1
            stats.first = stats.first or time.time()
            roll = rng.random()
            if latency:
                await asyncio.sleep(latency)
            if roll < errors:
                stats.faults += 1
                status, code = (429, 20429) if roll < errors / 2 else (500, 20500)
                extra = "Retry-After: 1\r\n" if status == 429 else ""
                writer.write(
                    _answer(status, {"code": code, "message": "stand-in fault", "status": status},
                            extra)
                )  # fmt: skip
                continue
            if roll < errors + timeouts:
                stats.faults += 1
                await asyncio.sleep(hang)
                writer.close()  # never answered, never created
                return
            to = b""
            for pair in body.split(b"&"):
                if pair.startswith(b"To="):
                    to = pair[3:]
            stats.accepted += 1
            stats.seen.add(to)
            sid = f"SM{next(ids):032x}"
            writer.write(
                _answer(201, {"sid": sid, "status": "queued", "account_sid": ACCOUNT,
                              "to": to.decode().replace("%2B", "+")})
            )  # fmt: skip
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def serve(
    port_queue: Any,
    *,
    latency: float = 0.0,
    errors: float = 0.0,
    timeouts: float = 0.0,
    hang: float = 20.0,
    seed: int = 1,
) -> None:
    """Serve on a free loopback port (put on ``port_queue``) until the process is stopped."""

    async def main() -> None:
        stats, ids = _Stats(), itertools.count(1)
        faults = (random.Random(seed), errors, timeouts, hang)
        server = await asyncio.start_server(
            lambda r, w: _handle(r, w, latency=latency, faults=faults, stats=stats, ids=ids),
            "127.0.0.1",
            0,
            backlog=1024,
        )
        port_queue.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())
