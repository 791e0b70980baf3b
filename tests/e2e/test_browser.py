"""The tour in a real browser: Playwright driving Debian's Chromium against a live server.

Screenshots go to the test's temporary folder, or to CRISIS_SCREENSHOTS when it is set
(`CRISIS_SCREENSHOTS=tests/e2e/screenshots make test`); look at them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.ports import SystemClock
from engine.paging.rosterdb import parse_roster
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.playbooks.places import Places
from engine.store import Store
from tests.conftest import ADMIN, ROOT, TEST_ROSTER
from web import create_app
from web.config import Config, Secret
from web.public import load_status_page
from web.runtime import Runtime

HOW = "needs Chromium: `apt-get install chromium` (as .ci/run does) or set CRISIS_CHROMIUM"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str | None:
    path = os.environ.get("CRISIS_CHROMIUM") or shutil.which("chromium")
    return path if path and Path(path).exists() else None


@dataclass(frozen=True)
class Live:
    url: str
    svc: Crisis


@pytest.fixture
def live(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[Live]:
    """A running app with its timers and outbox worker; SMS paced at 5 a second."""
    from werkzeug.serving import make_server

    channels = dict(channel_map)
    channels["sms"] = replace(channels["sms"], rate_per_second=5.0)
    store = Store.from_url(f"sqlite:///{tmp_path / 'e2e.db'}")
    store.upgrade()
    places = Places.from_components(load_status_page(ROOT / "config" / "status.yaml").components)
    svc = Crisis(
        store=store, catalog=catalog, clock=SystemClock(), channels=channels, places=places
    )
    svc.roster.load_roster(actor=ADMIN, seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    for name, role in [
        ("operator", "operator"),
        ("comms", "comms_lead"),
        ("comms2", "comms_lead"),
        ("marketer", "marketer"),
    ]:
        svc.accounts.add_user(actor=ADMIN, username=name, role=role, password=f"{name}-password")
    for i in range(15):
        svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone=f"+1555555{2000 + i}")
    app = create_app(Config(database_url="sqlite://", secret_key=Secret("e2e")), crisis=svc)
    runtime = Runtime(svc)
    runtime.start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.server_port}", svc)
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


SHOTS = os.environ.get("CRISIS_SCREENSHOTS")


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: CRISIS_SCREENSHOTS if set (to look at them), else tmp."""
    folder = Path(SHOTS) if SHOTS else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PHONE = {"width": 390, "height": 844}


def drafted(live: Live, *, by: str, title: str, region: str, severity: str = "sev2") -> Any:
    """An incident ``by`` declared, with its holding statement drafted: (incident, draft)."""
    actor = live.svc.accounts.find_user(username=by).as_actor()
    inc = live.svc.incidents.declare(
        actor=actor, playbook="rail-disruption", severity=severity, title=title, regions=[region]
    )
    draft = live.svc.updates.draft_update(
        actor=actor, incident_id=inc.id, audience="passengers", template="holding"
    )
    return inc, draft


def on_phone(browser: Any, live: Live, user: str) -> Any:
    """A touch phone's page, logged in as ``user``."""
    page = browser.new_context(viewport=PHONE, has_touch=True).new_page()
    log_in(page, live.url, user)
    return page


AXE_FAILS = ("moderate", "serious", "critical")


def accessible(page: Any, where: str = "") -> None:
    """axe-core on the page as it is now: no moderate, serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    bad = [
        f"{v['impact']} {v['id']}: {v['help']} — "
        + "; ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in found
        if v.get("impact") in AXE_FAILS
    ]
    assert not bad, f"{where or page.url}:\n" + "\n".join(bad)


def no_dialogs(page: Any) -> list[str]:
    """Collect any alert/confirm the page opens: an injected script would open one."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen


def test_operator_declares_on_a_phone_and_sees_the_freeze_and_held_posts(
    live: Live, browser: Any, shots: Path
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=3)
    marketer = live.svc.accounts.find_user(username="marketer").as_actor()
    for channel, body, tags in [
        ("newsletter", "Europe: the ideal Christmas gift", ["promo", "xmas"]),
        ("twitter", "Mince pies in every seat!", ["promo"]),
        ("twitter", "Engineering works on Sunday: check your journey", ["operational"]),
    ]:
        live.svc.calendar.create_post(
            actor=marketer,
            fields={"channel": channel, "body": body, "publish_at": soon, "tags": tags},
        )
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    dialogs = no_dialogs(page)
    log_in(page, live.url, "operator")
    page.click("text=Declare incident")
    page.check("input[name=playbook][value=rail-disruption]")
    page.check("input[name=severity][value=sev1]")
    page.fill("input[name=title]", "<script>alert(1)</script> Five trains stopped in the tunnel")
    page.check("input[name=regions][value=lille]")  # the registry's regions, as a picker
    page.check("input[name=regions][value=calais]")
    page.click("#declare button[type=submit]")
    page.wait_for_selector("text=❄ Promo freeze")
    incident_url = page.url.split("#")[0]
    assert "<script>alert(1)</script> Five trains" in page.inner_text("h1")
    # The promos fall due three seconds later and are held; the operational post goes out.
    for _ in range(40):
        page.goto(incident_url)
        if "Europe: the ideal Christmas gift" in page.inner_text(".freeze-card"):
            break
        page.wait_for_timeout(250)
    card = page.inner_text(".freeze-card")
    assert "2 post(s) held" in card and "Mince pies" in card and "Engineering works" not in card
    page.screenshot(path=str(shots / "operator-incident-freeze-phone.png"), full_page=True)
    page.goto(live.url + "/")
    row = page.inner_text("table.incidents")
    assert "promos frozen" in row and "<script>alert(1)</script> Five trains" in row
    page.screenshot(path=str(shots / "operator-board-phone.png"), full_page=True)
    posts = {p["body"]: p["state"] for p in live.svc.calendar.list_posts(per_page=10)[0]}
    assert posts["Engineering works on Sunday: check your journey"] == "published"
    assert dialogs == []


def test_the_declare_form_fits_a_phone(live: Live, browser: Any, shots: Path) -> None:
    """Everything on one narrow screen, big tap targets, four fields, one button."""
    page = browser.new_context(viewport={"width": 360, "height": 740}, has_touch=True).new_page()
    log_in(page, live.url, "operator")
    page.goto(live.url + "/incidents/new")
    page.screenshot(path=str(shots / "declare-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
    # Nothing is chosen for the operator: no playbook, no severity (issue 16).
    assert page.locator("input[name=playbook]:checked, input[name=severity]:checked").count() == 0
    for chip in page.locator("fieldset.regions label").all():  # region chips: thumb-sized
        box = chip.bounding_box()
        assert box is not None and box["height"] >= 40
    for choice in page.locator("#declare label.choice").all():  # playbooks and severities
        box = choice.bounding_box()
        assert box is not None and box["height"] >= 44
    for selector in ["input[name=title]", "#declare button[type=submit]"]:
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 40, selector  # a thumb can hit it
    sev2 = page.locator("label.sev-choice[data-sev=sev2] .meaning")
    assert sev2.inner_text() == ""
    page.tap("label.choice:has(input[value=rail-disruption])")
    assert sev2.inner_text() == "Major delays or cancellations"  # what sev2 means here
    page.tap("label.choice:has(input[value=site-closure])")
    assert sev2.inner_text() == "Site closed, no immediate danger"
    page.tap("label.choice:has(input[value=rail-disruption])")
    start = datetime.now(UTC)
    page.tap("input[name=severity][value=sev2]")
    page.fill("input[name=title]", "Overhead line down at Calais")
    page.tap("fieldset.regions label:has-text('Calais')")
    page.tap("#declare button[type=submit]")
    page.wait_for_selector("text=Overhead line down at Calais")
    assert (datetime.now(UTC) - start).total_seconds() < 30


def test_operator_sends_the_holding_statement_on_a_phone_after_one_confirmation(
    live: Live, browser: Any, shots: Path
) -> None:
    """Issue 16: after declaring, the page says what to do next; the holding statement shows
    what goes where and to how many and asks once; then acknowledging is the next step."""
    page = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True).new_page()
    dialogs = no_dialogs(page)
    log_in(page, live.url, "operator")
    page.goto(live.url + "/incidents/new")
    page.tap("label.choice:has(input[value=rail-disruption])")
    page.tap("label.sev-choice[data-sev=sev1]")
    page.fill("input[name=title]", "Five trains stopped in the tunnel")
    page.tap("#declare button[type=submit]")
    page.wait_for_selector("ol.steps")
    steps = page.inner_text("ol.steps")
    assert steps.index("Send the holding statement") < steps.index("Acknowledge")
    page.screenshot(path=str(shots / "next-steps-phone.png"), full_page=True)
    page.tap("text=Send the holding statement")
    page.wait_for_selector("#confirm")
    reach = page.inner_text("#confirm p.reach")
    assert reach == "SMS to 15 passengers · email to 0 passengers · X · status page", reach
    assert "Some channels reach nobody" in page.inner_text("#confirm")  # no email addresses
    button = page.locator("#confirm button[type=submit]")
    assert button.inner_text() == "Send now: 15 messages and 2 posts"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = button.bounding_box()
    assert box is not None and box["height"] >= 44
    page.screenshot(path=str(shots / "confirm-holding-phone.png"), full_page=True)
    assert live.svc.updates.list_updates() == []  # nothing has gone out yet
    button.tap()
    page.wait_for_selector("text=Public word sent")
    [u] = live.svc.updates.list_updates()
    assert u["template"] == "holding" and u["status"] in ("approved", "sending", "sent")
    assert "Acknowledge — I own this" in page.inner_text("ol.steps")
    page.tap("text=Acknowledge — I own this")
    page.wait_for_selector("text=Acknowledged by operator")
    page.screenshot(path=str(shots / "steps-done-phone.png"), full_page=True)
    assert dialogs == []


def test_comms_lead_approves_the_holding_statement_and_watches_delivery(
    live: Live, browser: Any, shots: Path
) -> None:
    op = live.svc.accounts.find_user(username="operator").as_actor()
    inc = live.svc.incidents.declare(
        actor=op,
        playbook="rail-disruption",
        severity="sev2",
        title="Trains held at Calais",
        regions=["calais"],
    )
    draft = live.svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers", template="holding"
    )
    assert draft["status"] == "pending_approval"  # pre-approved only at sev1
    desk = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    log_in(desk, live.url, "operator")
    desk.goto(live.url + "/approvals")
    assert "two-person" in desk.inner_text("main").lower()
    desk.goto(live.url + "/login")
    log_in(desk, live.url, "comms")
    desk.goto(live.url + "/approvals")
    queue = desk.inner_text("main")
    assert "Services on Calais are disrupted" in queue  # the preview per channel, by its name
    desk.screenshot(path=str(shots / "approvals-desk.png"), full_page=True)
    desk.click("button[value=approve]")
    desk.wait_for_selector("text=approved and sent")
    desk.goto(live.url + f"/incidents/{inc.id}")
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
    assert live.svc.updates.get_update(update_id=draft["id"])["deliveries"]["delivered"] >= 15


def test_the_live_timeline_escapes_what_it_receives(live: Live, browser: Any, shots: Path) -> None:
    """A hostile note arrives through server-sent events and is shown as text."""
    op = live.svc.accounts.find_user(username="operator").as_actor()
    inc = live.svc.incidents.declare(
        actor=op,
        playbook="site-closure",
        severity="sev2",
        title="<img src=x onerror=alert(2)>",
        regions=["london"],
    )
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    dialogs = no_dialogs(page)
    log_in(page, live.url, "operator")
    page.goto(live.url + f"/incidents/{inc.id}")
    before = page.locator("ol.timeline li").count()
    trigger = live.svc.incidents.playbook_of(inc).allowed_triggers(inc.state)[0]
    live.svc.incidents.fire(
        actor=op, incident_id=inc.id, trigger=trigger, note="<script>alert(3)</script> noted"
    )
    page.wait_for_function(
        "(n) => document.querySelectorAll('ol.timeline li').length > n", arg=before, timeout=10000
    )
    assert "<script>alert(3)</script> noted" in page.inner_text("ol.timeline")
    assert page.locator("ol.timeline script, h1 img").count() == 0
    page.screenshot(path=str(shots / "timeline-escaped.png"), full_page=True)
    assert dialogs == []


def test_the_public_status_page_on_a_phone(live: Live, browser: Any, shots: Path) -> None:
    op = live.svc.accounts.find_user(username="operator").as_actor()
    comms = live.svc.accounts.find_user(username="comms").as_actor()
    inc = live.svc.incidents.declare(
        actor=op,
        playbook="rail-disruption",
        severity="sev2",
        title="Delays at Lille",
        regions=["lille"],
    )
    u = live.svc.updates.draft_update(
        actor=op,
        incident_id=inc.id,
        audience="passengers",
        body="Trains to Lille are running 30 minutes late. Next update by 10:00 GMT.",
    )
    live.svc.updates.approve_update(actor=comms, update_id=u["id"], revision=1)
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    for i in range(40):  # the worker delivers to the status page within a moment
        page.goto(live.url + f"/status?try={i}")  # the page may be cached for 15 s
        if "30 minutes late" in page.inner_text("main"):
            break
        page.wait_for_timeout(250)
    assert "Partial disruption" in page.inner_text(".overall")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "status-phone.png"), full_page=True)


def test_small_things_at_3am_login_dark_mode_targets_and_landmarks(
    live: Live, browser: Any, shots: Path
) -> None:
    """Issue 16: a wrong password keeps the username; dark mode follows the system; nav links
    are 44 px touch targets; a skip link; the freeze banner is a live region in a landmark."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = ctx.new_page()
    page.goto(live.url + "/login")
    page.fill("input[name=username]", "comms")
    page.fill("input[name=password]", "not-the-password")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=Wrong username or password")
    assert page.input_value("input[name=username]") == "comms"
    assert page.evaluate("document.activeElement.name") == "password"
    page.screenshot(path=str(shots / "login-wrong-dark-phone.png"), full_page=True)
    page.fill("input[name=password]", "comms-password")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("header nav")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 17, 21)", background  # the dark palette
    for link in page.locator("header nav a").all():
        box = link.bounding_box()
        assert box is not None and box["height"] >= 44, link.inner_text()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    region = page.locator("aside.freeze-region")
    assert region.get_attribute("aria-live") == "polite" and region.get_attribute("aria-label")
    page.screenshot(path=str(shots / "board-dark-phone.png"), full_page=True)
    ctx.close()
