"""Issue 16, "live means the whole page": approvals, ownership, escalation, the next step, the
board, the approvals queue and the nav count follow what happens elsewhere without a reload,
and a region someone is typing in is left alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import TEST_ROSTER  # noqa: F401 - the live fixture loads it (dana, cam)
from tests.e2e.test_browser import Live, accessible, browser, drafted, live, log_in, on_phone, shots

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses


def test_the_incident_page_follows_approval_and_acknowledgement_without_a_reload(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    inc, draft = drafted(live, by="operator", title="Trains held at Calais", region="calais")
    page = on_phone(browser, live, "operator")
    page.goto(live.url + f"/incidents/{inc.id}")
    page.wait_for_selector("#live-status:has-text('live')")
    page.evaluate("window.stillHere = true")  # gone if the page reloads
    assert "unowned" in page.inner_text("#live-facts")
    assert "Public word drafted" in page.inner_text("#live-next")
    # Someone starts editing the incident: that region must not be swapped under them.
    page.click("#live-facts summary")
    page.fill("#live-facts input[name=title]", "Trains held at Calais Fréthun")
    comms = svc.accounts.find_user(username="comms").as_actor()
    svc.updates.approve_update(actor=comms, update_id=draft["id"], revision=1)
    page.wait_for_selector(
        f"article.update[data-update='{draft['id']}']:not([data-status=pending_approval])",
        timeout=10000,
    )
    page.wait_for_function(
        "() => document.querySelector('#live-next').innerText.includes('Public word sent')",
        timeout=10000,
    )
    dana = svc.accounts.find_user(username="dana").as_actor()
    svc.incidents.acknowledge(actor=dana, incident_id=inc.id)
    page.wait_for_function(
        "() => document.querySelector('#live-escalation').innerText.includes('Stopped')",
        timeout=10000,
    )
    assert page.input_value("#live-facts input[name=title]") == "Trains held at Calais Fréthun"
    assert "unowned" in page.inner_text("#live-facts")  # still as it was while being edited
    # Put away, the region catches up.
    page.fill("#live-facts input[name=title]", "Trains held at Calais")
    page.click("#live-facts summary")
    page.locator("#live-facts summary").blur()
    page.wait_for_function(
        "() => document.querySelector('#live-facts').innerText.includes('Dana Duty')", timeout=20000
    )
    assert "Stopped" in page.inner_text("#live-escalation")
    assert page.evaluate("window.stillHere") is True
    page.screenshot(path=str(shots / "live-incident-phone.png"), full_page=True)
    accessible(page, "the incident page after live updates")


def test_the_board_the_queue_and_the_nav_count_follow_new_work(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    op = svc.accounts.find_user(username="operator").as_actor()
    page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    log_in(page, live.url, "comms")
    page.goto(live.url + "/approvals")
    page.evaluate("window.stillHere = true")
    assert "No draft is waiting" in page.inner_text("#live-queue")
    inc = svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev2", title="Lille signalling",
        regions=["lille"],
    )  # fmt: skip
    svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers", template="holding"
    )
    page.wait_for_function(
        "() => document.querySelector('#live-queue').innerText.includes('Lille signalling')",
        timeout=20000,
    )
    assert page.inner_text("#nav-approvals .count") == "1"
    page.goto(live.url + "/")
    page.evaluate("window.stillHere = true")
    svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev3", title="Slow lifts at Paris Nord",
        regions=["paris"],
    )  # fmt: skip
    page.wait_for_function(
        "() => document.querySelector('#live-board').innerText.includes('Slow lifts')",
        timeout=20000,
    )
    assert page.evaluate("window.stillHere") is True
    page.screenshot(path=str(shots / "live-board-desk.png"), full_page=True)
