"""Issue 16 in a real browser: one message per person, in their language. A visitor whose
browser asks for French is offered French on the subscribe form; the comms lead approving on a
phone sees both languages and how many read each; each subscriber gets one SMS, in theirs."""

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
    on_phone,
    shots,
)

__all__ = ["browser", "live", "shots"]  # the fixtures this module uses

FRENCH, ENGLISH = "+33612345678", "+447700900456"


def test_each_person_reads_the_update_in_their_language(
    live: Live, browser: Any, shots: Path
) -> None:
    svc = live.svc
    visitor = browser.new_context(viewport=PHONE, locale="fr-FR").new_page()
    visitor.goto(live.url + "/status/subscribe")
    chosen = visitor.locator("form:has(input[name=email]) select[name=language]")
    assert chosen.input_value() == "fr"  # the browser's language, preselected
    assert chosen.locator("option[value=fr]").inner_text() == "Français"
    visitor.screenshot(path=str(shots / "subscribe-french-phone.png"), full_page=True)
    accessible(visitor, "the subscribe form with its language chooser")
    for phone, language in ((FRENCH, "fr-FR"), (ENGLISH, "en-GB")):
        svc.audience.add_subscriber(
            actor=ADMIN, audience="passengers", phone=phone, region="lille", language=language
        )
    _, draft = drafted(live, by="operator", title="Lille signalling", region="lille")
    page = on_phone(browser, live, "comms")
    page.goto(live.url + "/approvals")
    card = page.locator(f"article.update[data-update='{draft['id']}']")
    french = card.locator("div.language")
    assert "French" in french.locator("h4").inner_text()
    assert "Prochaine information à" in french.inner_text()
    # 15 passengers without a language and the English reader get English; one reads French.
    assert "SMS to 17 passengers (16 in English, 1 in French)" in card.inner_text()
    page.screenshot(path=str(shots / "approve-two-languages-phone.png"), full_page=True)
    accessible(page, "an approval card in two languages")
    card.locator("button[value=approve]").tap()
    page.wait_for_selector("text=approved and sent")
    deadline = time.monotonic() + 30
    told: dict[str, list[str]] = {}
    while time.monotonic() < deadline:  # SMS go at 5 a second
        told = {}
        for m in svc.delivery.sandbox_messages(limit=500):
            if m["channel"] == "sms" and m["body"].startswith(("Services on", "Nous savons")):
                told.setdefault(m["address"], []).append(m["body"])
        if len(told) >= 17:
            break
        time.sleep(0.5)
    assert len(told) == 17 and all(len(bodies) == 1 for bodies in told.values()), told
    assert told[FRENCH][0].startswith("Nous savons que les services sur Lille")
    assert "CET" in told[FRENCH][0] or "CEST" in told[FRENCH][0]
    assert told[ENGLISH][0].startswith("Services on Lille are disrupted")
    page.goto(live.url + "/sandbox")
    page.screenshot(path=str(shots / "sandbox-two-languages-phone.png"), full_page=True)
