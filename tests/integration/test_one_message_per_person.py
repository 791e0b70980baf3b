"""Issue 16: one message per person, in their language. An update drafted from a template
written in English and French is one update: each subscriber gets exactly one message per
channel — in French if they read French (``fr``, ``fr-BE``), else in the update's own
language — and every time in it says its zone. The resolution reaches each in theirs too."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.errors import ValidationFailed
from engine.schema import deliveries, subscribers
from engine.updates import locales
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_hardening_updates import resolve
from tests.integration.test_subscriptions import app, client, subscribe

__all__ = ["app", "client"]  # the fixtures this module uses

PEOPLE = {  # phone → language
    "+15555550201": None,
    "+15555550202": "en-GB",
    "+15555550203": "fr",
    "+15555550204": "FR_be",  # as a list might write it: kept as fr-BE
    "+15555550205": "de",  # no German: the update's own language
}


def subscribe_all(svc: Crisis) -> None:
    for phone, language in PEOPLE.items():
        svc.audience.add_subscriber(
            actor=ADMIN, audience="passengers", phone=phone, email=f"p{phone[-3:]}@example.org",
            region="lille", language=language,
        )  # fmt: skip


def messages(svc: Crisis, update_id: int) -> list[Any]:
    with svc.store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(deliveries, subscribers.c.phone, subscribers.c.language)
                .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
                .where(deliveries.c.kind == "update", deliveries.c.ref_id == update_id)
            )
        )


def declare(svc: Crisis) -> int:
    return svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Signalling failure",
        regions=["lille"],
    ).id  # fmt: skip


def test_each_subscriber_gets_exactly_one_message_in_their_language(service: Crisis) -> None:
    subscribe_all(service)
    iid = declare(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] == "sending" and u["locales"] == ["en", "fr"]
    assert "Prochaine information à" in u["variants"]["fr"]["sms"]
    assert set(u["variants"]["fr"]) == {"sms", "email"}  # X and the status page: one post
    sent = messages(service, u["id"])
    per_person = Counter((m.phone, m.channel) for m in sent)
    assert set(per_person.values()) == {1}  # exactly one per person and channel
    assert len(per_person) == len(PEOPLE) * 2  # SMS and email, everyone
    by_phone = {m.phone: m for m in sent if m.channel == "sms"}
    for phone, language in PEOPLE.items():
        m = by_phone[phone]
        french = bool(language) and language.lower().startswith("fr")
        assert m.meta["locale"] == ("fr" if french else "en"), (phone, language)
        if french:  # each time says its zone: Paris time for French readers
            assert "Prochaine information à" in m.body and ("CET" in m.body or "CEST" in m.body)
        else:
            assert "Next update by" in m.body and ("GMT" in m.body or "BST" in m.body)
    assert by_phone["+15555550204"].language == "fr-BE"
    # A failed SMS falls back to one post on X for everyone: in the update's own language.
    assert by_phone["+15555550203"].meta["fallback"]["body"] == u["rendered"]["twitter"]
    [published] = [e for e in service.incidents.timeline(incident_id=iid) if e.type == "published"]
    # SMS and email: 3 people read English, 2 French; the status page and X are one post each
    assert published.data["languages"] == {"en": 6, "fr": 4}
    assert published.data["deliveries"] == 12


def test_the_confirmation_counts_each_language(service: Crisis) -> None:
    subscribe_all(service)
    iid = declare(service)
    p = service.updates.preview_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    sms = next(r for r in p["reach"] if r["channel"] == "sms")
    assert sms["people"] == 5 and sms["languages"] == {"en": 3, "fr": 2}
    assert next(r for r in p["reach"] if r["channel"] == "twitter")["people"] is None


def test_an_update_in_one_language_goes_to_everyone(service: Crisis) -> None:
    subscribe_all(service)
    iid = declare(service)
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers",
        body="Buses replace trains from Lille Europe. Next update by 12:00 GMT.",
    )  # fmt: skip
    assert u["locales"] == ["en"] and u["variants"] == {}
    service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    sent = [m for m in messages(service, u["id"]) if m.channel == "sms"]
    assert len(sent) == 5 and {m.body for m in sent} == {
        "Buses replace trains from Lille Europe. Next update by 12:00 GMT."
    }


def test_a_fact_changed_in_one_language_must_change_in_the_other(service: Crisis) -> None:
    iid = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Lille",
        regions=["lille"],
    ).id  # fmt: skip
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert u["status"] == "pending_approval" and u["policy_violations"] == []
    english = "Trains stopped at Lille: buses from 11:00 GMT. Next update by 12:00 GMT."
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts={"sms": english}
    )
    behind = [v for v in r["policy_violations"] if v["rule"] == "translation_behind"]
    assert behind == [
        {
            "channel": "sms",
            "locale": "fr",
            "rule": "translation_behind",
            "message": "the English text changed and the French one did not: edit it too, "
            "or approve with a reason",
        }
    ]
    french = "Trains arrêtés à Lille : bus dès 12h00 CET. Prochaine information à 13:00 CET."
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts={"sms": english},
        variant_texts={"fr": {"sms": french}},
    )  # fmt: skip
    assert r["policy_violations"] == [] and r["variants"]["fr"]["sms"] == french
    assert r["rendered"]["sms"] == english
    # A later edit of the French alone keeps the English edit, and is no problem.
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts={"sms": english},
        variant_texts={"fr": {"sms": french.replace("12h00", "12h15")}},
    )  # fmt: skip
    assert r["policy_violations"] == [] and "12h15" in r["variants"]["fr"]["sms"]
    with pytest.raises(ValidationFailed, match="a post carries the update's own language"):
        service.updates.revise_update(
            actor=OPERATOR, update_id=u["id"], variant_texts={"fr": {"twitter": "Bonjour"}}
        )
    with pytest.raises(ValidationFailed, match="not written in that language"):
        service.updates.revise_update(
            actor=OPERATOR, update_id=u["id"], variant_texts={"de": {"sms": "Hallo"}}
        )
    # The French text is checked by the policy like the English one.
    r = service.updates.revise_update(
        actor=OPERATOR, update_id=u["id"], channel_texts={"sms": english},
        variant_texts={"fr": {"sms": "Pas de commentaire. No comment."}},
    )  # fmt: skip
    rules = {(v["rule"], v.get("locale")) for v in r["policy_violations"]}
    assert ("forbid", "fr") in rules and ("public_requires", "fr") in rules


def test_the_all_clear_reaches_each_person_once_in_their_language(service: Crisis) -> None:
    subscribe_all(service)
    iid = declare(service)
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    resolve(service, iid)
    [closing] = [
        u for u in service.updates.list_updates(incident_id=iid) if u["template"] == "all-clear"
    ]
    assert closing["locales"] == ["en", "fr"]
    service.updates.approve_update(actor=COMMS, update_id=closing["id"], revision=1)
    sms = {m.phone: m.body for m in messages(service, closing["id"]) if m.channel == "sms"}
    assert len(sms) == len(PEOPLE)
    assert sms["+15555550203"].startswith("Les services sur")
    assert sms["+15555550201"].startswith("Services on")


def test_a_language_is_checked_where_it_enters(service: Crisis) -> None:
    with pytest.raises(ValidationFailed) as bad:
        service.audience.add_subscriber(
            actor=ADMIN, audience="passengers", phone="+15555550299", language="<script>"
        )
    assert "language" in bad.value.details


def test_which_language_a_person_reads() -> None:
    offered = ["en", "fr"]
    assert locales.best("fr-BE", offered) == "fr"
    assert locales.best("FR", offered) == "fr"
    assert locales.best("de", offered) is None
    assert locales.best("fr", ["en", "fr-BE"]) == "fr-BE"
    assert locales.best("fr-ca", ["fr", "fr-CA"]) == "fr-CA"
    assert locales.assign(["fr", "fr-be", "de", "en-gb"], offered, "en") == {"fr": ["fr", "fr-be"]}
    assert locales.primary("fr-FR", offered) == "fr"
    assert locales.primary("de", offered) == "en"
    assert locales.primary("de", []) == "de"
    assert locales.name("fr") == "French" and locales.name("fr-BE") == "French (fr-BE)"
    assert locales.name("fr", own=True) == "Français" and locales.name("xx") == "xx"


def test_the_subscribe_form_asks_the_language_and_guesses_it_from_the_browser(
    client: FlaskClient, service: Crisis
) -> None:
    page = client.get("/status/subscribe", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    html = page.get_data(as_text=True)
    chosen = re.findall(r'<option value="(\w+)" lang="\w+" (selected)?>([^<]+)<', html)
    assert ("en", "", "English") in chosen and ("fr", "selected", "Français") in chosen
    english = client.get("/status/subscribe", headers={"Accept-Language": "de, en-GB;q=0.8"})
    assert '<option value="en" lang="en" selected>' in english.get_data(as_text=True)
    assert subscribe(client, via="email", email="zoe@example.org", language="fr").status_code == 303
    bad = subscribe(client, via="email", email="yan@example.org", language="x<y")
    assert bad.status_code == 422 and "language tag" in bad.get_data(as_text=True)
    people = {p["email"]: p["language"] for p in service.audience.list_subscribers()}
    assert people == {"zoe@example.org": "fr"}
