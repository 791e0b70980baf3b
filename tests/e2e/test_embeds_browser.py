"""Issue 17, embeds, in Chromium: a company's own page (another origin) embeds the banner
script and the badge; while an incident is public the banner names it and links to it, a
visitor can dismiss it until the next update, and it leaves when the incident is resolved."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_browser import PHONE, Live, accessible, browser, live, shots

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses


@pytest.fixture
def company_site(live: Live) -> Iterator[str]:
    """The organisation's own site on another origin, embedding the script and a badge."""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Example Rail</title>
</head><body><main><h1>Book a train</h1><p>Fares from £29.</p>
<img src="{live.url}/status/badge/lille.svg" alt="Lille status" id="badge">
</main><script src="{live.url}/status/embed.js" async></script></body></html>""".encode()

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_port}/"  # localhost vs 127.0.0.1: cross-origin
    finally:
        server.shutdown()
        server.server_close()


def until_public(live: Live, title: str, *, gone: bool = False) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        open_ = [i.title for i in live.svc.public.incidents(days=1) if not i.resolved]
        if (title in open_) != gone:
            time.sleep(1.1)  # each process reads what is published at most once a second
            return
        time.sleep(0.2)
    raise AssertionError(f"{title!r} never {'left' if gone else 'reached'} the status page")


def test_the_banner_and_badge_on_the_companys_own_site(
    live: Live, browser: Any, company_site: str, shots: Path
) -> None:
    svc = live.svc
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(company_site)
    page.wait_for_function("document.getElementById('badge').naturalWidth > 0")
    page.wait_for_timeout(500)  # the script has read the summary: nothing is open
    assert page.locator("[data-crisiscomms=banner]").count() == 0
    op = svc.accounts.find_user(username="operator").as_actor()
    comms = svc.accounts.find_user(username="comms").as_actor()
    inc = svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev1", title="Trains stopped at Lille",
        regions=["lille"],
    )  # fmt: skip
    svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers", template="holding"
    )
    until_public(live, "Trains stopped at Lille")
    page.reload()
    banner = page.locator("[data-crisiscomms=banner]")
    banner.wait_for()
    assert "Trains stopped at Lille" in banner.inner_text()
    assert "Services on Lille are disrupted" in banner.inner_text()
    assert banner.get_attribute("role") == "status"
    assert banner.locator("a").get_attribute("href").endswith(f"/status/incidents/{inc.id}")
    page.wait_for_function("document.getElementById('badge').naturalWidth > 0")
    page.screenshot(path=str(shots / "embed-banner-phone.png"), full_page=True)
    accessible(page, "the company's page with the banner")
    # Dismissed, it stays away on the next page of the site until there is a new update.
    banner.locator("button").click()
    assert banner.count() == 0
    page.reload()
    page.wait_for_timeout(800)
    assert page.locator("[data-crisiscomms=banner]").count() == 0
    more = svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers",
        body="Buses replace trains from Lille Europe. Next update by 12:00 GMT.",
    )  # fmt: skip
    svc.updates.approve_update(actor=comms, update_id=more["id"], revision=1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
        "Buses replace" in e.body for i in svc.public.incidents(days=1) for e in i.entries
    ):
        time.sleep(0.2)
    time.sleep(1.1)
    page.reload()
    page.locator("[data-crisiscomms=banner]:has-text('Buses replace trains')").wait_for()
    # Resolved: the banner goes.
    for trigger in ("acknowledge", "resolve"):
        svc.incidents.fire(actor=comms, incident_id=inc.id, trigger=trigger)
    until_public(live, "Trains stopped at Lille", gone=True)
    page.reload()
    page.wait_for_timeout(800)
    assert page.locator("[data-crisiscomms=banner]").count() == 0
