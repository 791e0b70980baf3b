"""Live timeline events cross processes through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.keys import DEVELOPMENT_SECRET
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from tests.conftest import ADMIN, OPERATOR, ROOT
from web import create_app, live
from web.config import Config, Secret


@pytest.fixture
def pg(
    pg_store_url: tuple[Store, str], catalog: Catalog, channel_map: dict[str, Channel]
) -> tuple[Crisis, str]:
    store, url = pg_store_url
    return Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channel_map), url


def read_chunks(resp: Any, out: queue.Queue[str], stop: threading.Event) -> None:
    for chunk in resp.response:
        out.put(chunk.decode() if isinstance(chunk, bytes) else chunk)
        if stop.is_set():
            break  # leaves the stream suspended at a yield, so it can be closed


def test_an_event_committed_by_another_process_reaches_the_stream_at_once(
    pg: tuple[Crisis, str],
) -> None:
    svc, url = pg
    svc.accounts.add_user(actor=ADMIN, username="operator", role="operator")
    token = svc.accounts.create_token(actor=ADMIN, username="operator", name="t")[1]
    inc = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="x", regions=["lille"]
    )
    app = create_app(Config(database_url=url, secret_key=Secret("k")), crisis=svc)
    client = app.test_client()
    resp = client.get(
        f"/api/v1/incidents/{inc.id}/events",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    chunks: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    reader = threading.Thread(target=read_chunks, args=(resp, chunks, stop), daemon=True)
    reader.start()
    # the events so far, then a keep-alive: the stream is now waiting
    while "keep-alive" not in chunks.get(timeout=10):
        pass
    bus = app.extensions["crisis.bus"]
    deadline = time.monotonic() + 10
    while not bus.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.listening
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(
        CRISIS_DATABASE_URL=url, CRISIS_SECRET_KEY=DEVELOPMENT_SECRET, CRISIS_AUTO_MIGRATE="0"
    )
    subprocess.run(
        [sys.executable, "-m", "web", "transition", str(inc.id), "acknowledge", "--as", "operator"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    committed = time.monotonic()
    seen = ""
    while "transitioned" not in seen:
        seen += chunks.get(timeout=live.SAFETY_SECONDS - 5)
    # Without the notice the stream would sleep until its 15 s safety re-read.
    assert time.monotonic() - committed < live.SAFETY_SECONDS - 5
    assert '"from": "declared"' in seen
    # End the stream while its schema still exists: wake it once more, let the reader go.
    stop.set()
    bus.publish(inc.id)
    reader.join(timeout=20)
    assert not reader.is_alive()
    resp.close()
    bus.stop()
