"""Issue 16's remaining journeys in a real browser, on a phone: editing a draft and an
incident, and a resolution that reaches every audience that heard about the incident."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN
from tests.e2e.test_browser import (
    PHONE,
    Live,
    accessible,
    browser,
    drafted,
    live,
    no_dialogs,
    on_phone,
    shots,
)

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses


def test_editing_a_draft_and_the_incident_on_a_phone(live: Live, browser: Any, shots: Path) -> None:
    svc = live.svc
    inc, draft = drafted(live, by="operator", title="Lille signalling", region="lille")
    page = on_phone(browser, live, "operator")
    dialogs = no_dialogs(page)
    page.goto(live.url + f"/incidents/{inc.id}")
    card = page.locator(f"article.update[data-update='{draft['id']}']")
    card.locator("summary", has_text="Edit this draft").tap()
    sms = (
        "Services on Lille are disrupted. Buses from Lille Europe at 14:00. Next update 13:00 GMT."
    )
    card.locator("textarea[name=text-sms]").fill(sms)
    page.screenshot(path=str(shots / "edit-draft-phone.png"), full_page=True)
    accessible(page, "the incident page with a draft being edited")
    card.locator("button", has_text="Save revision 2").tap()
    page.wait_for_selector("text=is now revision 2")
    saved = svc.updates.get_update(update_id=draft["id"])
    assert saved["revision"] == 2 and saved["rendered"]["sms"] == sms
    assert saved["rendered"]["email"].startswith("Services on Lille are disrupted and we")
    # The incident itself: severity up, Calais added, a summary.
    page.locator("#live-facts summary", has_text="Edit incident").tap()
    page.tap("#live-facts label.choice:has(input[value=sev1])")
    page.tap("#live-facts label.chip:has(input[value=calais])")
    page.fill("#live-facts textarea[name=summary]", "A signalling fault north of Lille.")
    page.tap("#live-facts button:has-text('Save changes')")
    page.wait_for_selector("#live-facts dd:has-text('Lille, Calais')")
    assert "sev1" in page.inner_text("#live-facts")
    timeline = page.inner_text("#timeline")
    assert "Changed severity from “sev2” to “sev1”" in timeline, timeline
    assert "Lille, Calais" in timeline
    page.screenshot(path=str(shots / "edited-incident-phone.png"), full_page=True)
    assert dialogs == []


def test_resolving_on_a_phone_tells_every_audience_that_heard(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    staff = [f"+155555530{i:02d}" for i in range(2)]
    for phone in staff:
        svc.audience.add_subscriber(actor=ADMIN, audience="staff", phone=phone)
    op = svc.accounts.find_user(username="operator").as_actor()
    inc = svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev1", title="Tunnel closed",
        regions=["calais"],
    )  # fmt: skip
    svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="passengers", template="holding"
    )
    svc.updates.draft_update(
        actor=op, incident_id=inc.id, audience="staff", template="staff-briefing"
    )
    svc.incidents.acknowledge(actor=op, incident_id=inc.id)
    page = on_phone(browser, live, "comms")
    dialogs = no_dialogs(page)
    page.goto(live.url + f"/incidents/{inc.id}")
    page.tap("button[value=resolve]")
    page.wait_for_selector("#live-facts dd.state:has-text('resolved')")
    # Staff need no approval: they are told at once. Passengers' all-clear waits for a person.
    closing = {u["audience"]: u for u in svc.updates.list_updates(incident_id=inc.id)
               if u["template"] in ("all-clear", "staff-resolved")}  # fmt: skip
    assert set(closing) == {"passengers", "staff"}
    assert closing["passengers"]["status"] == "pending_approval"
    card = page.locator(f"article.update[data-update='{closing['passengers']['id']}']")
    assert "running normally again" in card.inner_text()
    page.screenshot(path=str(shots / "resolved-before-approval-phone.png"), full_page=True)
    accessible(page, "the resolved incident with its all-clear waiting")
    card.locator("button[value=approve]").tap()
    page.wait_for_selector("text=approved and sent")
    passengers = [f"+1555555{2000 + i}" for i in range(15)]
    deadline = time.monotonic() + 30
    told: dict[str, str] = {}
    while time.monotonic() < deadline:  # SMS go at 5 a second, posts at once: wait for all
        told = {
            m["address"]: m["body"]
            for m in svc.delivery.sandbox_messages(limit=500)
            if "running normally again" in m["body"] or "now resolved" in m["body"]
        }
        if all(p in told for p in passengers + staff):
            break
        time.sleep(0.5)
    assert all("running normally again" in told.get(p, "") for p in passengers), told
    assert all("now resolved" in told.get(p, "") for p in staff), told
    page.screenshot(path=str(shots / "resolved-told-phone.png"), full_page=True)
    assert dialogs == []


def test_approving_on_a_phone_with_context_and_the_two_person_rule(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    inc, draft = drafted(live, by="comms", title="Brussels lifts out", region="brussels")
    # The author cannot approve their own public update: the queue says so, the button is off.
    own = on_phone(browser, live, "comms")
    own.goto(live.url + "/approvals")
    card = own.locator("section.approval")
    assert "two-person rule: not by comms, who wrote it" in card.inner_text()
    assert card.locator("button[value=approve]").is_disabled()
    assert "another approver must approve it" in card.inner_text()
    # The second comms lead, on a phone: the context, then approve, landing on the delivery.
    page = on_phone(browser, live, "comms2")
    dialogs = no_dialogs(page)
    page.goto(live.url + "/approvals")
    card = page.locator("section.approval")
    context = card.locator("h2.context").inner_text()
    assert "SEV2" in context.upper() and f"{inc.ref} · Brussels lifts out" in context
    assert "declared" in context and "drafted just now by comms" in context
    assert "SMS to 15 passengers" in card.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(shots / "approve-context-phone.png"), full_page=True)
    accessible(page, "the approvals queue on a phone")
    card.locator("button[value=approve]").tap()
    page.wait_for_selector("text=approved and sent")
    assert page.url.endswith(f"/incidents/{inc.id}#update-{draft['id']}")
    page.wait_for_selector(f"article.update[data-update='{draft['id']}'] [data-count=delivered]")
    assert svc.updates.get_update(update_id=draft["id"])["status"] in (
        "approved",
        "sending",
        "sent",
    )
    assert dialogs == []
