"""The freeze reaching a marketing platform, in a real browser: the incident page shows each
connector's progress, failing first, then confirmed; the lifted freeze's items wait on the
Calendar page and a click there restores one on the platform."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.ports import SystemClock
from engine.paging.rosterdb import parse_roster
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import parse_config
from engine.playbooks.places import Places
from engine.store import Store
from notifiers.marketing.sandbox import SandboxPlatform
from tests.conftest import ADMIN, ROOT, TEST_ROSTER
from tests.e2e.test_browser import browser, log_in, no_dialogs, shots  # noqa: F401 - fixtures
from tests.integration.test_connectors import config_text
from web import create_app
from web.config import Config, Secret
from web.public import load_status_page
from web.runtime import Runtime


@pytest.fixture
def platform() -> SandboxPlatform:
    p = SandboxPlatform("crm")
    now = datetime.now(UTC)
    p.schedule("a", title="Lille weekend offer", send_at=now + timedelta(hours=3),
               labels={"category": ["promo"], "list": ["lille-subs"]})  # fmt: skip
    p.schedule("b", title="Sale on every route", send_at=now + timedelta(hours=5),
               labels={"category": ["sale"]})  # fmt: skip
    p.schedule("c", title="Timetable news", send_at=now + timedelta(hours=6),
               labels={"category": ["news"]})  # fmt: skip
    p.fail_next(503, on="scan")  # the platform is down as the freeze starts
    return p


@pytest.fixture
def live(
    tmp_path: Path, catalog: Catalog, platform: SandboxPlatform
) -> Iterator[tuple[str, Crisis]]:
    from werkzeug.serving import make_server

    channels, connectors = parse_config(config_text(), file="channels.yaml")
    store = Store.from_url(f"sqlite:///{tmp_path / 'e2e.db'}")
    store.upgrade()
    places = Places.from_components(load_status_page(ROOT / "config" / "status.yaml").components)
    svc = Crisis(
        store=store, catalog=catalog, clock=SystemClock(), channels=channels, places=places,
        connectors=connectors, platforms={"crm": platform},
    )  # fmt: skip
    svc.roster.load_roster(actor=ADMIN, seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    for name, role in [("operator", "operator"), ("comms", "comms_lead")]:
        svc.accounts.add_user(actor=ADMIN, username=name, role=role, password=f"{name}-password")
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("e2e")), crisis=svc)
    runtime = Runtime(svc)
    runtime.start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", svc
    finally:
        server.shutdown()
        runtime.stop()
        store.dispose()


def test_the_incident_page_shows_each_platform_paused_and_the_calendar_restores_one(
    live: tuple[str, Crisis],
    browser: Any,  # noqa: F811 - the fixture imported above
    shots: Path,  # noqa: F811
    platform: SandboxPlatform,
) -> None:
    url, svc = live
    page = browser.new_context(viewport={"width": 1100, "height": 1400}).new_page()
    dialogs = no_dialogs(page)
    log_in(page, url, "operator")
    page.click("text=Declare incident")
    page.check("input[name=playbook][value=rail-disruption]")
    page.check("input[name=severity][value=sev1]")
    page.fill("input[name=title]", "Trains stopped in the tunnel")
    page.check("input[name=regions][value=lille]")
    page.click("#declare button[type=submit]")
    page.wait_for_selector("text=Marketing platforms")
    incident = page.url.split("#")[0]
    for _ in range(80):  # the scan fails once, is retried a few seconds later, then pauses
        page.goto(incident)
        if "2 of 2 scheduled items paused" in page.inner_text(".freeze-card"):
            break
        page.wait_for_timeout(250)
    card = page.inner_text(".freeze-card")
    assert "✓ crm (Sandbox platform): 2 of 2 scheduled items paused" in card
    assert "paused on marketing platforms" in page.inner_text(".freeze-banner")
    timeline = page.inner_text("#timeline")
    assert "crm (Sandbox platform): failing — crm answered 503, retrying" in timeline
    assert platform.active() == ["c"]
    page.click("text=2 item(s) on the platforms")
    page.screenshot(path=str(shots / "connectors-incident.png"), full_page=True)
    # Comms lifts the freeze (forced past the cool-down): the items wait for review.
    (freeze,) = svc.calendar.list_freezes(active=True)
    comms = browser.new_context(viewport={"width": 1100, "height": 1200}).new_page()
    log_in(comms, url, "comms")
    comms.goto(incident)
    comms.fill(".freeze-card input[name=reason]", "Service restored; messaging reviewed")
    comms.check(".freeze-card input[name=force]")
    comms.click(".freeze-card button:has-text('Lift freeze')")
    comms.goto(url + "/calendar")
    section = comms.inner_text("#platform-review")
    assert "Lille weekend offer" in section and "Sale on every route" in section
    comms.screenshot(path=str(shots / "connectors-calendar-review.png"), full_page=True)
    row = comms.locator("#platform-review tr", has_text="Lille weekend offer")
    row.locator("button:has-text('publish')").click()
    assert "Publish: Lille weekend offer on crm." in comms.inner_text(".flash")
    for _ in range(40):
        if "a" in platform.active():
            break
        comms.wait_for_timeout(250)
    assert platform.active() == ["a", "c"]
    assert svc.calendar.get_freeze(freeze_id=freeze["id"])["lifted_at"] is not None
    assert dialogs == []
