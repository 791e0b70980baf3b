"""Issue 17, Statuspage's "notify subscribers": unticked, an update is posted (the status
page, social, chat) and no subscriber is messaged; ticked (the default), everyone is."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa
from flask import Flask

from engine.app import Crisis
from engine.schema import deliveries
from tests.conftest import OPERATOR
from tests.integration.test_acting import lille
from tests.integration.test_web import bearer, csrf_of, login


def sent(svc: Crisis, update_id: int) -> list[str]:
    with svc.store.engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.select(deliveries.c.channel).where(
                    deliveries.c.kind == "update", deliveries.c.ref_id == update_id
                )
            ).scalars()
        )


def test_an_update_with_notify_unticked_reaches_no_subscriber(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    iid = lille(svc)  # sev1: the holding statement is pre-approved
    client = app.test_client()
    quiet = client.post(
        f"/api/v1/incidents/{iid}/updates", headers=bearer(tokens["operator"]),
        json={"audience": "passengers", "template": "holding", "notify_subscribers": False},
    )  # fmt: skip
    assert quiet.status_code == 201, quiet.get_json()
    u = quiet.get_json()
    assert u["status"] == "sending" and u["notify_subscribers"] is False
    assert sent(svc, u["id"]) == ["status_page", "twitter"]  # posted, nobody messaged
    [published] = [e for e in svc.incidents.timeline(incident_id=iid) if e.type == "published"]
    assert published.data["notify"] is False and published.data["deliveries"] == 2
    loud = svc.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    assert loud["notify_subscribers"] is True
    assert sent(svc, loud["id"]).count("sms") == 3 and sent(svc, loud["id"]).count("email") == 3


def test_the_preview_and_the_confirmation_say_who_is_not_notified(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    iid = lille(svc)
    client = app.test_client()
    p = client.post(
        f"/api/v1/incidents/{iid}/updates/preview", headers=bearer(tokens["operator"]),
        json={"audience": "passengers", "template": "holding", "notify_subscribers": False},
    ).get_json()  # fmt: skip
    sms = next(r for r in p["reach"] if r["channel"] == "sms")
    assert (sms["people"], sms["notified"]) == (0, False) and p["notify_subscribers"] is False
    login(client, "operator")
    page = client.get(f"/incidents/{iid}").get_data(as_text=True)
    assert '<input type="checkbox" name="notify" value="1" checked>' in page
    shown = client.post(f"/incidents/{iid}/updates", data={
        "csrf_token": csrf_of(client, f"/incidents/{iid}"), "what": "template:holding",
        "notify": ["0"],  # the box unticked: only its hidden field is sent
    })  # fmt: skip
    said = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", shown.get_data(as_text=True))))
    assert "Subscribers are not notified" in said
    assert "SMS: passengers not notified · email: passengers not notified · X" in said
    assert "Send now: 2 posts" in said and "Some channels reach nobody" not in said
    assert 'name="notify" value="0"' in shown.get_data(as_text=True)  # carried to the send
    ticked = client.post(f"/incidents/{iid}/updates", data={
        "csrf_token": csrf_of(client, f"/incidents/{iid}"), "what": "template:holding",
        "notify": ["0", "1"],
    })  # fmt: skip
    assert b"Send now: 6 messages and 2 posts" in ticked.data
