"""Issue 16: every page, on a phone and a desktop, light and dark — a screenshot of each (set
CRISIS_SCREENSHOTS to keep them) and axe-core on each: no moderate, serious or critical
accessibility violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.calendar.rules import Scope
from engine.kernel.models import Actor
from engine.playbooks.catalog import Catalog
from tests.conftest import ADMIN, PLAYBOOKS
from tests.e2e.test_browser import Live, accessible, browser, live, log_in, shots

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses
VIEWS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}


def staged(live: Live) -> int:
    """An incident with a freeze, an update sent and one waiting, a post the freeze will hold."""
    svc = live.svc
    svc.accounts.add_user(actor=ADMIN, username="admin", role="admin", password="admin-password")
    op = svc.accounts.find_user(username="operator").as_actor()
    inc = svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev2", title="Signalling failure at Lille",
        regions=["lille"],
    )  # fmt: skip
    sent = svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers", template="holding"
    )
    comms = svc.accounts.find_user(username="comms").as_actor()
    svc.updates.approve_update(actor=comms, update_id=sent["id"], revision=1)
    svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers",
        body="Replacement buses from Lille Europe every 15 minutes. Next update by 12:00 GMT.",
    )  # fmt: skip
    marketer = Actor("marketer", "marketer")
    svc.calendar.create_post(actor=marketer, fields={
        "channel": "twitter", "body": "Lille Christmas market: 2 for 1", "tags": "promo",
        "regions": "lille", "publish_at": svc.clock.now().replace(year=2030),
    })  # fmt: skip
    svc.calendar.create_freeze(actor=ADMIN, scope=Scope(tags=("sale",)), reason="quiet week")
    return inc.id


@pytest.fixture
def catalog(tmp_path: Path, channels: frozenset[str]) -> Catalog:
    """The playbooks from a deep folder, as on a server (/srv/…/config/playbooks): the pages
    that show file paths must fit a phone wherever the files live (CI's checkout path once
    made the playbooks page 419 px wide)."""
    deep = tmp_path / "srv" / "crisiscomms-operations-production" / "config" / "playbooks"
    deep.mkdir(parents=True)
    for f in PLAYBOOKS.glob("*.yaml"):
        (deep / f.name).write_text(f.read_text())
    return Catalog.load([deep], channels=channels)


WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-3).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 50))"""
PAGES = {
    "operator": [
        "/", "/incidents/new", "/incidents/{iid}",
        "/incidents/{iid}/updates/confirm?audience=passengers&template=holding",
        "/approvals", "/oncall", "/calendar", "/sandbox", "/me", "/api/v1/docs",
    ],
    "comms": ["/approvals", "/incidents/{iid}"],
    "admin": [
        "/admin/users", "/admin/tokens", "/admin/limits", "/admin/playbooks",
        "/admin/playbooks/rail-disruption",
    ],
    None: [
        "/login", "/status", "/status/incidents/{iid}", "/status/subscribe",
        "/status/subscribe/confirm?token=x", "/status/feed.atom", "/status/cap.atom",
        "/no-such-page",
    ],
}  # fmt: skip


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("view", ["phone", "desktop"])
def test_every_page_is_accessible_on_phone_and_desktop_light_and_dark(
    live: Live, browser: Any, shots: Path, view: str, scheme: str
) -> None:
    iid = staged(live)
    seen = 0
    for who, paths in PAGES.items():
        ctx = browser.new_context(viewport=VIEWS[view], color_scheme=scheme)
        page = ctx.new_page()
        if who:
            log_in(page, live.url, who)
        for path in paths:
            url = path.format(iid=iid)
            page.goto(live.url + url)
            name = (
                url.strip("/").split("?")[0].replace("/", "_") or "board"
            ) + f"-{who or 'public'}"
            page.screenshot(path=str(shots / f"{name}-{view}-{scheme}.png"), full_page=True)
            if view == "phone":  # nothing wider than the phone, whatever the page
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= VIEWS["phone"]["width"] + 1, (url, width, page.evaluate(WIDE))
            accessible(page, f"{url} as {who or 'a visitor'} ({view}, {scheme})")
            seen += 1
        ctx.close()
    assert seen == sum(len(p) for p in PAGES.values())
