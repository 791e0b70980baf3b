"""The real Alertmanager (Debian's prometheus-alertmanager) posting to our webhook.

An alert added with ``amtool`` declares an incident that freezes promos; Alertmanager's
repeated notifications of the same group do not declare again; ending the alert is recorded.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from tests.conftest import ADMIN
from web import create_app
from web.config import Config, Secret

HOW = (
    "needs Alertmanager: `apt-get install prometheus-alertmanager` (as .ci/run does), "
    "which provides prometheus-alertmanager and amtool"
)
ALERTMANAGER = shutil.which("prometheus-alertmanager")
AMTOOL = shutil.which("amtool")
LABELS = ["alertname=SignallingFailure", "severity=critical", "line=lille"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Counter:
    """WSGI middleware counting Alertmanager's webhook posts."""

    def __init__(self, app: Any) -> None:
        self.app, self.posts = app, 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/hooks/alertmanager" and environ["REQUEST_METHOD"] == "POST":
            self.posts += 1
        return self.app(environ, start_response)


@pytest.fixture
def crisis(
    tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]
) -> Iterator[tuple[Crisis, str, str, Counter]]:
    from werkzeug.serving import make_server

    store = Store.from_url(f"sqlite:///{tmp_path / 'am.db'}")
    store.upgrade()
    svc = Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channel_map)
    svc.accounts.add_user(actor=ADMIN, username="alertmanager", role="automation")
    token = svc.accounts.create_token(actor=ADMIN, username="alertmanager", name="alertmanager")[1]
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("am")), crisis=svc)
    counter = Counter(app.wsgi_app)
    app.wsgi_app = counter  # type: ignore[method-assign]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield svc, f"http://127.0.0.1:{server.server_port}", token, counter
    finally:
        server.shutdown()
        store.dispose()


@pytest.fixture
def alertmanager(tmp_path: Path, crisis: tuple[Crisis, str, str, Counter]) -> Iterator[str]:
    if ALERTMANAGER is None or AMTOOL is None:
        pytest.skip(HOW)
    _, base, token, _ = crisis
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: crisiscomms
  group_by: [alertname, line]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: crisiscomms
    webhook_configs:
      - url: {base}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: "{token}"}}
"""
    )
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        wait_for(ready, "Alertmanager to start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def amtool(url: str, *args: str) -> None:
    assert AMTOOL is not None
    subprocess.run(
        [AMTOOL, "alert", "add", *args, f"--alertmanager.url={url}"],
        check=True,
        capture_output=True,
        timeout=20,
    )


def test_alertmanager_declares_once_freezes_and_records_resolution(
    crisis: tuple[Crisis, str, str, Counter], alertmanager: str
) -> None:
    svc, _, _, counter = crisis
    start = datetime.now(UTC) - timedelta(seconds=5)
    amtool(
        alertmanager,
        *LABELS,
        "--annotation=summary=Signalling failure between Lille and Calais",
        f"--start={start.isoformat()}",
    )
    page = wait_for(lambda: svc.incidents.list_incidents(state="all").items, "the incident")
    [inc] = page
    assert (inc.playbook_id, inc.severity, inc.regions) == ("rail-disruption", "sev1", ("lille",))
    assert inc.title == "Signalling failure between Lille and Calais"
    [freeze] = svc.calendar.list_freezes(active=True)
    assert freeze["incident_id"] == inc.id and freeze["scope"]["regions"] == ["lille"]
    # Alertmanager repeats the notification every couple of seconds; none declares again.
    wait_for(lambda: counter.posts >= 3, "repeated notifications", timeout=40)
    assert svc.incidents.list_incidents(state="all").total == 1
    # Ending the alert: Alertmanager sends a resolved notification, which is recorded.
    amtool(
        alertmanager,
        *LABELS,
        "--annotation=summary=Signalling failure between Lille and Calais",
        f"--start={start.isoformat()}",
        f"--end={datetime.now(UTC).isoformat()}",
    )
    wait_for(
        lambda: any(
            e.type == "monitoring_resolved" for e in svc.incidents.timeline(incident_id=inc.id)
        ),
        "the resolved notification",
        timeout=40,
    )
    types = [e.type for e in svc.incidents.timeline(incident_id=inc.id)]
    assert types.count("declared") == 1 and types.count("alert_resolved") == 1
    assert (
        svc.incidents.get(incident_id=inc.id).resolved_at is None
    )  # people decide (no auto_resolve)
