"""Issue 16, "an expired session while drafting loses the text and shows a bare 403": the text
is shown back, and logging in again brings the form back once, asking again before anything
goes out."""

from __future__ import annotations

import html
import json
import re

from flask import Flask

from engine.app import Crisis
from tests.conftest import OPERATOR
from tests.integration.test_acting import lille, text
from tests.integration.test_web import csrf_of, login

DRAFT = "Replacement buses leave Lille Europe every 15 minutes from 14:00 CET."


def hidden(page: str, name: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'name="{name}" value="([^"]*)"', page)]


def hidden_all(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="[^"]+" value="([^"]*)"', page)]


def test_a_draft_sent_after_the_session_ended_is_kept_across_logging_in_again(
    app: Flask, svc: Crisis
) -> None:
    iid = lille(svc, severity="sev1")
    client = app.test_client()
    login(client, "operator")
    token = csrf_of(client, f"/incidents/{iid}")
    svc.accounts.end_sessions(username="operator")  # e.g. logged out on another device
    r = client.post(
        f"/incidents/{iid}/updates",
        data={
            "csrf_token": token,
            "what": "template:holding",
            "locale": "en",
            "body": DRAFT,
            "confirmed": "1",
        },  # the holding statement with a note: it goes out at once
        headers={"Referer": f"http://localhost/incidents/{iid}"},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 401 and "Your session has ended" in page
    assert "Nothing was sent or saved." in page and DRAFT in html.unescape(page)
    assert svc.updates.list_updates(incident_id=iid) == []
    [kept] = hidden(page, "kept")
    assert json.loads(kept)["action"] == f"/incidents/{iid}/updates"
    assert "confirmed" not in dict(json.loads(kept)["fields"])  # it will ask again
    # Logging in from that page goes back to the incident, with the form there once.
    login_to = re.search(r'<form method="post" action="([^"]+)" autocomplete', page)
    assert login_to
    back = client.post(html.unescape(login_to.group(1)), data={
        "csrf_token": hidden(page, "csrf_token")[0], "username": "operator",
        "password": "operator-password", "kept": kept,
    })  # fmt: skip
    assert back.status_code == 302 and back.headers["Location"] == f"/incidents/{iid}"
    shown = client.get(f"/incidents/{iid}").get_data(as_text=True)
    assert "Your form from before you logged in again" in shown and DRAFT in html.unescape(shown)
    card = shown[shown.index('id="kept"') : shown.index("</form>", shown.index('id="kept"'))]
    assert hidden(card, "body") == [DRAFT] and hidden(card, "confirmed") == []
    assert "Your form from before" not in text(client, f"/incidents/{iid}")  # once only
    # Sending it again asks first (the update would go out at once), then sends.
    fields = dict(zip(re.findall(r'name="([^"]+)" value=', card), hidden_all(card), strict=True))
    asked = client.post(f"/incidents/{iid}/updates", data=fields)
    assert asked.status_code == 200 and b"Send now: 6 messages" in asked.data
    assert svc.updates.list_updates(incident_id=iid) == []


def test_an_edited_channel_text_is_kept_too(app: Flask, svc: Crisis) -> None:
    iid = lille(svc, severity="sev2")
    u = svc.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    client = app.test_client()
    r = client.post(f"/updates/{u['id']}/revise", data={"csrf_token": "?", "text-sms": DRAFT})
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 401 and "Sms" in page and DRAFT in page


def test_a_stale_form_while_logged_in_offers_to_send_it_again(app: Flask, svc: Crisis) -> None:
    iid = lille(svc, severity="sev2")
    client = app.test_client()
    login(client, "operator")
    csrf_of(client, f"/incidents/{iid}")
    r = client.post(f"/incidents/{iid}/updates", data={
        "csrf_token": "from-an-old-tab", "what": "free:passengers", "body": DRAFT,
    })  # fmt: skip
    page = r.get_data(as_text=True)
    assert r.status_code == 403 and "This form had expired" in page
    assert DRAFT in html.unescape(page) and "Send it again" in page
    again = client.post(f"/incidents/{iid}/updates", data={
        "csrf_token": hidden(page, "csrf_token")[0], "what": hidden(page, "what")[0],
        "body": hidden(page, "body")[0],
    })  # fmt: skip
    assert again.status_code == 302  # sev2: a draft waiting for approval, no question asked
    [u] = svc.updates.list_updates(incident_id=iid)
    assert u["status"] == "pending_approval"


def test_what_cannot_be_carried_is_shown_to_copy_and_nothing_foreign_is_kept(
    app: Flask, svc: Crisis
) -> None:
    iid = lille(svc)
    client = app.test_client()
    long = "x" * 4000
    r = client.post(f"/incidents/{iid}/updates", data={"csrf_token": "?", "body": long})
    page = r.get_data(as_text=True)
    assert r.status_code == 401 and long in page and hidden(page, "kept") == []
    assert "copy it before you log in" in page
    # A kept form naming another site's address is dropped at login.
    foreign = json.dumps({"action": "https://evil.example/x", "fields": [["body", "hi"]]})
    token = csrf_of(client, "/login")
    client.post("/login", data={
        "csrf_token": token, "username": "operator", "password": "operator-password",
        "kept": foreign,
    })  # fmt: skip
    assert "Your form from before" not in text(client, "/")
    # The password is never kept or shown.
    r = client.post(f"/incidents/{iid}/updates", data={"csrf_token": "?", "password": "s3cret!"})
    assert "s3cret!" not in r.get_data(as_text=True)
