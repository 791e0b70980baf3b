"""Twilio hooks: signatures checked with twilio's own RequestValidator; ACK by SMS and voice."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from twilio.request_validator import RequestValidator

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.paging.rosterdb import parse_roster
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.schema import deliveries
from engine.store import Store
from engine.timers.schedule import fire_due
from tests.conftest import ADMIN, OPERATOR, TEST_ROSTER
from web import create_app
from web.config import Config, Secret

TOKEN = "test-twilio-auth-token"
BASE = "http://localhost"


@pytest.fixture
def svc(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[Crisis]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'hooks.db'}")
    store.upgrade()
    s = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channel_map)
    s.roster.load_roster(actor=ADMIN, seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    yield s
    store.dispose()


@pytest.fixture
def app(svc: Crisis, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    return create_app(
        Config(database_url="sqlite://", secret_key=Secret("k")),
        crisis=svc,
        test_config={"TESTING": True},
    )


def signed_post(
    app: Flask,
    path: str,
    form: dict[str, str],
    *,
    token: str = TOKEN,
    tamper: bool = False,
    sign: bool = True,
) -> object:
    if path.endswith("/sms") and "MessageSid" not in form:  # Twilio sends one with every SMS
        form = {"MessageSid": f"SM{uuid.uuid4().hex}"} | form
    if path.endswith("/voice") and "CallSid" not in form:
        form = {"CallSid": f"CA{uuid.uuid4().hex}"} | form
    signature = RequestValidator(token).compute_signature(BASE + path, form)
    if tamper:
        form = dict(form) | {"Body": form.get("Body", "") + " extra"}
    headers = {"X-Twilio-Signature": signature} if sign else {}
    return app.test_client().post(path, data=form, headers=headers)


def paged_incident(svc: Crisis) -> int:
    iid = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Lille"
    ).id
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    fire_due(svc.store, svc.timer_handlers(), now=clock.now(), node="t")
    return iid


def test_sms_ack_reply_acknowledges_as_the_paged_person(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    resp = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": f"ACK {iid}"})
    assert resp.status_code == 200 and resp.mimetype == "text/xml"  # type: ignore[attr-defined]
    assert f"Acknowledged INC-{iid}" in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    inc = svc.incidents.get(incident_id=iid)
    assert inc.owner == "dana"
    [ack] = [e for e in svc.incidents.timeline(incident_id=iid) if e.type == "acknowledged"]
    assert ack.actor == "dana" and ack.data == {"via": "sms"}


def test_a_bare_ack_takes_the_most_recent_page(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    resp = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": "ack"})
    assert f"INC-{iid}" in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=iid).owner == "dana"


def test_other_replies_and_strangers_get_help_not_action(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    help_ = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": "what?"})
    assert "reply ACK" in help_.get_data(as_text=True)  # type: ignore[attr-defined]
    stranger = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550999", "Body": f"ACK {iid}"})
    assert "not on the crisiscomms roster" in stranger.get_data(as_text=True)  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=iid).owner is None


def test_voice_keypress_one_acknowledges(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    path = f"/hooks/twilio/voice?incident={iid}"
    resp = signed_post(
        app, path, {"To": "+15555550105", "From": "+15005550006", "Digits": "1", "CallSid": "CA123"}
    )
    assert "Acknowledged" in resp.get_data(as_text=True)  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=iid).owner == "dana"


def test_status_callback_is_kept_then_applied_to_the_outbox_row(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    with svc.store.transaction() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.kind == "page")
            .values(status="sent", provider_id="SM0001")
        )
    resp = signed_post(
        app,
        "/hooks/twilio/status",
        {"MessageSid": "SM0001", "MessageStatus": "undelivered", "ErrorCode": "30003"},
    )
    assert resp.status_code == 204  # type: ignore[attr-defined]
    with svc.store.engine.connect() as conn:
        row = conn.execute(sa.select(deliveries).where(deliveries.c.kind == "page")).one()
    assert row.status == "sent"  # kept with one INSERT; the worker applies receipts in batches
    assert svc.delivery.apply_receipts() == 1
    with svc.store.engine.connect() as conn:
        row = conn.execute(sa.select(deliveries).where(deliveries.c.kind == "page")).one()
    assert (row.status, row.error_code) == ("failed", "30003")
    assert row.provider_status == "failed" and "undelivered" in row.last_error  # Twilio's word
    assert [e.type for e in svc.incidents.timeline(incident_id=iid)][-1] == "delivery_failed"


def test_a_status_callback_signed_over_the_url_with_its_port_is_kept_and_sets_no_cookie(
    app: Flask, svc: Crisis
) -> None:
    """Twilio signs sometimes with the default port in the URL, sometimes without: both pass
    (twilio's own rule). A machine's hook neither reads nor writes the session cookie."""
    form = {"MessageSid": "SM0002", "MessageStatus": "delivered"}
    with_port = BASE.replace("://localhost", "://localhost:80") + "/hooks/twilio/status"
    signature = RequestValidator(TOKEN).compute_signature(with_port, form)
    client = app.test_client()
    client.set_cookie("crisis_session", "not-a-session")
    resp = client.post("/hooks/twilio/status", data=form, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 204
    assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.headers.get("Vary", "")
    with svc.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM early_receipts")).scalar() == 1


@pytest.mark.parametrize(
    "path", ["/hooks/twilio/sms", "/hooks/twilio/voice?incident=1", "/hooks/twilio/status"]
)
@pytest.mark.parametrize("how", ["tampered", "missing", "wrong-token"])
def test_every_twilio_hook_refuses_bad_signatures(
    app: Flask, svc: Crisis, path: str, how: str
) -> None:
    iid = paged_incident(svc)
    form = {
        "From": "+15555550105",
        "To": "+15555550105",
        "Body": f"ACK {iid}",
        "Digits": "1",
        "MessageSid": "SM1",
        "MessageStatus": "delivered",
    }
    resp = signed_post(
        app,
        path,
        form,
        tamper=how == "tampered",
        sign=how != "missing",
        token="not-the-token" if how == "wrong-token" else TOKEN,
    )
    assert resp.status_code == 403  # type: ignore[attr-defined]
    assert resp.get_json()["error"] == "forbidden"  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=iid).owner is None


def test_hooks_refuse_everything_when_no_token_is_configured(
    app: Flask, svc: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    resp = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": "ACK"})
    assert resp.status_code == 403  # type: ignore[attr-defined]


def test_the_page_text_says_how_to_acknowledge(svc: Crisis) -> None:
    iid = paged_incident(svc)
    with svc.store.engine.connect() as conn:
        body = conn.execute(
            sa.select(deliveries.c.body).where(deliveries.c.kind == "page")
        ).scalar_one()
    assert body.endswith(f"Reply ACK {iid} to acknowledge.")
    assert svc.clock.now() - svc.incidents.get(incident_id=iid).declared_at < timedelta(seconds=1)


def test_stop_and_start_replies_change_the_subscription(app: Flask, svc: Crisis) -> None:
    import sqlalchemy as sa

    from engine.schema import subscribers

    svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone="+15555550700")
    stop = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550700", "Body": "STOP"})
    assert "no more crisiscomms updates" in stop.get_data(as_text=True)  # type: ignore[attr-defined]
    with svc.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.opted_in)).scalar_one() is False
    start = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550700", "Body": "start"})
    assert "again (1 subscription" in start.get_data(as_text=True)  # type: ignore[attr-defined]
    with svc.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.opted_in)).scalar_one() is True


def test_a_replayed_signed_reply_acknowledges_nothing(app: Flask, svc: Crisis) -> None:
    """Issue 13.6: a captured signed "ACK" cannot acknowledge a later incident."""
    first = paged_incident(svc)
    form = {"MessageSid": "SM" + "a" * 32, "From": "+15555550105", "Body": "ACK"}
    assert "Acknowledged" in signed_post(app, "/hooks/twilio/sms", form).get_data(as_text=True)  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=first).owner is not None
    later = paged_incident(svc)
    replay = signed_post(app, "/hooks/twilio/sms", form)
    assert replay.status_code == 200  # type: ignore[attr-defined]
    assert "Acknowledged" not in replay.get_data(as_text=True)  # type: ignore[attr-defined]
    assert svc.incidents.get(incident_id=later).owner is None
    unsigned_sid = signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": "ACK"})
    assert unsigned_sid.status_code == 200  # a fresh MessageSid (signed_post adds one) is acted on
    assert svc.incidents.get(incident_id=later).owner is not None


@pytest.mark.parametrize("route", ["api", "web", "sms"])
def test_a_paged_viewer_acknowledges_by_every_route(app: Flask, svc: Crisis, route: str) -> None:
    """Issue 21: one rule for every route — anyone the incident paged may acknowledge it."""
    svc.accounts.update_user(
        actor=ADMIN, username="dana", role="viewer", password="dana-password-1"
    )
    iid = paged_incident(svc)  # pages dana (duty-manager)
    client = app.test_client()
    if route == "api":
        _, token = svc.accounts.create_token(actor=ADMIN, username="dana", name="phone")
        resp = client.post(
            f"/api/v1/incidents/{iid}/acknowledge", headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status_code == 200
    elif route == "web":
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        client.post(
            "/login",
            data={"username": "dana", "password": "dana-password-1", "csrf_token": csrf.group(1)},
        )
        shown = client.get(f"/incidents/{iid}").get_data(as_text=True)
        assert "Acknowledge" in shown
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', shown)
        assert csrf
        client.post(f"/incidents/{iid}/ack", data={"csrf_token": csrf.group(1)})
    else:
        signed_post(app, "/hooks/twilio/sms", {"From": "+15555550105", "Body": f"ACK {iid}"})
    assert svc.incidents.get(incident_id=iid).owner == "dana"


def test_a_viewer_who_was_not_paged_acknowledges_by_no_route(app: Flask, svc: Crisis) -> None:
    iid = paged_incident(svc)
    svc.accounts.add_user(actor=ADMIN, username="vic", role="viewer", password="vic-password-1")
    _, token = svc.accounts.create_token(actor=ADMIN, username="vic", name="t")
    resp = app.test_client().post(
        f"/api/v1/incidents/{iid}/acknowledge", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 403
    assert svc.incidents.get(incident_id=iid).owner is None
