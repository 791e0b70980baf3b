"""The tour in a real browser: Playwright driving Debian's Chromium against a live server.

Screenshots go to the test's temporary folder (its path is printed on failure); look at them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog
from engine.channels import Channel
from engine.ports import SystemClock
from engine.rosterdb import parse_roster
from engine.service import Service
from engine.store import Store
from tests.conftest import TEST_ROSTER
from web import create_app
from web.config import Config, Secret
from web.runtime import Runtime

HOW = "needs Chromium: `apt-get install chromium` (as .ci/run does) or set CRISIS_CHROMIUM"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str | None:
    path = os.environ.get("CRISIS_CHROMIUM") or shutil.which("chromium")
    return path if path and Path(path).exists() else None


@pytest.fixture
def live(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[str]:
    """A running app with its timers and outbox worker; SMS paced at 5 a second."""
    from werkzeug.serving import make_server

    channels = dict(channel_map)
    channels["sms"] = replace(channels["sms"], rate_per_second=5.0)
    store = Store.from_url(f"sqlite:///{tmp_path / 'e2e.db'}")
    store.upgrade()
    svc = Service(store=store, catalog=catalog, clock=SystemClock(), channels=channels)
    svc.load_roster(seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    for name, role in [("operator", "operator"), ("comms", "comms_lead"), ("comms2", "comms_lead")]:
        svc.add_user(username=name, role=role, password=f"{name}-password")
    for i in range(15):
        svc.add_subscriber(actor=None, audience="passengers", phone=f"+1555555{2000 + i}")
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("e2e")), service=svc)
    runtime = Runtime(svc)
    runtime.start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        runtime.stop()
        store.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    path = chromium()
    if path is None:
        pytest.skip(HOW)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


def log_in(page: Any, base: str, user: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", f"{user}-password")
    page.click("form.card button[type=submit]")


def test_the_eurostar_tour_in_a_browser(live: str, browser: Any, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    op = phone.new_page()
    log_in(op, live, "operator")
    op.goto(live + "/incidents/new")
    op.screenshot(path=str(shots / "declare-phone.png"), full_page=True)
    op.select_option("select[name=playbook]", "rail-disruption")
    op.check("input[name=severity][value=sev2]")
    op.fill("input[name=title]", "<script>alert(1)</script> Trains held at Calais")
    op.fill("input[name=regions]", "calais")
    op.click("#declare button[type=submit]")
    op.wait_for_selector("text=❄ Promo freeze")
    incident_url = op.url.split("#")[0]
    assert "<script>alert(1)</script> Trains held at Calais" in op.inner_text("h1")
    op.select_option("#updates select[name=audience]", "passengers")
    op.select_option("#updates select[name=template]", "progress")
    op.click("#updates form.draft button[type=submit]")
    op.wait_for_selector("text=pending approval")
    op.screenshot(path=str(shots / "incident-phone.png"), full_page=True)
    board = op.goto(live + "/")
    assert board is not None and "promos frozen" in op.inner_text("main")

    desk = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    log_in(desk, live, "comms2")
    desk.goto(live + "/approvals")
    desk.click("button[value=approve]")
    desk.wait_for_selector("text=approved and sent")
    desk.goto(incident_url)
    delivered = desk.locator("article.update[data-update] [data-count=delivered]").first
    first = int(delivered.inner_text())
    # 15 SMS at 5 a second: the count rises on the page without a reload.
    desk.wait_for_function(
        "(n) => Number(document.querySelector('[data-count=delivered]').textContent) > n",
        arg=first,
        timeout=15000,
    )
    desk.wait_for_selector("article.update .badge.status-sent", timeout=15000)
    desk.screenshot(path=str(shots / "progress-desk.png"), full_page=True)
    assert (shots / "progress-desk.png").stat().st_size > 0
