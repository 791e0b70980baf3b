"""Issue 16 in a real browser: the marketer's view of a freeze (what it will hold, a warning
when scheduling into it, times in the browser's zone) and a bulk decision asked once and
undone, on a phone."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.calendar.rules import Scope
from engine.kernel.models import Actor
from tests.conftest import ADMIN, OPERATOR
from tests.e2e.test_browser import PHONE, Live, accessible, browser, live, log_in, no_dialogs, shots

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses


def test_the_marketer_sees_what_the_freeze_will_hold_in_their_own_time_zone(
    live: Live, browser: Any, shots: Path
) -> None:
    inc = live.svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Lille signalling",
        regions=["lille"],
    )  # fmt: skip
    page = browser.new_context(
        viewport=PHONE, has_touch=True, timezone_id="Europe/Paris"
    ).new_page()
    dialogs = no_dialogs(page)
    log_in(page, live.url, "marketer")  # the login page tells the server the browser's zone
    page.goto(live.url + "/calendar")
    assert "Times are in Europe/Paris" in page.inner_text("main")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    page.select_option("select[name=channel]", "twitter")
    page.fill("textarea[name=body]", "Lille Christmas market: 2 for 1")
    page.fill("input[name=publish_at]", f"{tomorrow}T10:00")
    page.fill("input[name=tags]", "promo")
    page.fill("input[name=regions]", "Lille")
    page.tap("form.card button.primary")
    page.wait_for_selector(".flash.warn")
    assert f"INC-{inc.id}" in page.inner_text(".flash.warn")
    [post] = live.svc.calendar.list_posts(state="scheduled")[0]
    assert post["publish_at"].astimezone(UTC).hour == 9  # 10:00 in Paris in winter
    row = page.locator("tr", has_text="Lille Christmas market")
    assert "will be held · freeze" in row.inner_text() and "10:00 CET" in row.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(shots / "calendar-will-hold-phone.png"), full_page=True)
    accessible(page, "calendar with a warning and a post the freeze will hold")
    assert dialogs == []


def test_the_comms_lead_cancels_a_review_queue_asked_once_and_undoes_it_on_a_phone(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    marketer = Actor("marketer", "marketer")
    soon = datetime.now(UTC) + timedelta(seconds=2)
    ids = [
        svc.calendar.create_post(
            actor=marketer,
            fields={
                "channel": "twitter",
                "body": f"Paris sale {i}",
                "publish_at": soon,
                "tags": "promo",
                "regions": "paris",
            },
        )["id"]  # fmt: skip
        for i in range(2)
    ]
    fz = svc.calendar.create_freeze(
        actor=ADMIN, scope=Scope(tags=("promo",), regions=("paris",)), reason="Paris strike"
    )
    deadline = time.monotonic() + 20
    while svc.calendar.list_posts(state="held")[1] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the runtime's publisher holds them when they fall due
    svc.calendar.lift_freeze(actor=ADMIN, freeze_id=fz["id"], reason="strike over")
    page = browser.new_context(viewport=PHONE, has_touch=True).new_page()
    dialogs = no_dialogs(page)
    log_in(page, live.url, "comms")
    page.goto(live.url + "/calendar")
    page.tap("text=cancel all 2")
    page.wait_for_selector("h1:has-text('Cancel 2 post(s)?')")
    assert "Paris sale 0" in page.inner_text("main") and "10 minutes" in page.inner_text("main")
    assert [p["state"] for p in (svc.calendar.get_post(post_id=i) for i in ids)] == ["held"] * 2
    page.screenshot(path=str(shots / "calendar-bulk-confirm-phone.png"), full_page=True)
    accessible(page, "the bulk confirmation")
    page.tap("button:has-text('Cancel 2 post(s)')")
    page.wait_for_selector("form.undo")
    assert "Cancelled 2 post(s)." in page.inner_text("form.undo")
    assert [p["state"] for p in (svc.calendar.get_post(post_id=i) for i in ids)] == [
        "cancelled"
    ] * 2
    undo = page.locator("form.undo button")
    box = undo.bounding_box()
    assert box is not None and box["height"] >= 44
    page.screenshot(path=str(shots / "calendar-undo-phone.png"), full_page=True)
    accessible(page, "the calendar offering undo")
    undo.tap()
    page.wait_for_selector("text=Undone: 2 post(s) back in the review queue.")
    assert [p["state"] for p in (svc.calendar.get_post(post_id=i) for i in ids)] == ["held"] * 2
    assert dialogs == []


def test_a_session_ended_mid_draft_keeps_the_text_in_a_real_browser(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    op = svc.accounts.find_user(username="operator").as_actor()
    inc = svc.incidents.declare(
        actor=op, playbook="rail-disruption", severity="sev2", title="Lille", regions=["lille"]
    )
    ctx = browser.new_context(viewport=PHONE, has_touch=True)
    page = ctx.new_page()
    log_in(page, live.url, "operator")
    page.goto(live.url + f"/incidents/{inc.id}")
    page.check("input[value='free:passengers']")
    typed = "Replacement buses leave Lille Europe every 15 minutes. Next update by 15:00 GMT."
    page.fill("form.draft textarea[name=body]", typed)
    ctx.clear_cookies()  # the session ends while the text is being written
    page.click("form.draft button[type=submit]")
    page.wait_for_selector("#session-ended")
    assert page.input_value("#session-ended textarea") == typed
    page.screenshot(path=str(shots / "session-ended-phone.png"), full_page=True)
    accessible(page, "the session-ended page")
    page.fill("#session-ended input[name=username]", "operator")
    page.fill("#session-ended input[name=password]", "operator-password")
    page.click("#session-ended button[type=submit]")
    page.wait_for_selector("#kept")
    assert typed in page.inner_text("#kept") and page.url.endswith(f"/incidents/{inc.id}")
    accessible(page, "the incident page with the kept form")
    page.click("#kept button[type=submit]")
    page.wait_for_selector("text=Update #")
    [u] = svc.updates.list_updates(incident_id=inc.id)
    assert u["status"] == "pending_approval" and u["rendered"]["sms"] == typed
