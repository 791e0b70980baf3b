"""The status-callback gate (web.callbacks): a well-formed, correctly signed callback is kept
and answered before Flask; everything else reaches the Flask view unchanged and gets the view's
answer. The gate never accepts what the view would refuse, and never answers an error itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request_started
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from web import create_app
from web.config import Config, Secret

TOKEN = "test-twilio-auth-token"
PATH = "/hooks/twilio/status"
HERE = "http://localhost" + PATH


@pytest.fixture
def svc(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[Crisis]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'gate.db'}")
    store.upgrade()
    yield Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channel_map)
    store.dispose()


def gated_app(
    svc: Crisis, monkeypatch: pytest.MonkeyPatch, **config: Any
) -> tuple[Flask, list[str]]:
    """The app, and a list that grows by one for each request Flask itself handled."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    app = create_app(
        Config(database_url="sqlite://", secret_key=Secret("k"), **config),
        crisis=svc,
        test_config={"TESTING": True},
    )
    entered: list[str] = []
    request_started.connect(lambda _sender, **_: entered.append("flask"), app, weak=False)
    return app, entered


@pytest.fixture
def app(svc: Crisis, monkeypatch: pytest.MonkeyPatch) -> tuple[Flask, list[str]]:
    return gated_app(svc, monkeypatch)


def post(app: Flask, form: dict[str, str], *, url: str = HERE, **kw: Any) -> Any:
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    headers = {"X-Twilio-Signature": signature} | kw.pop("headers", {})
    return app.test_client().post(PATH, data=form, headers=headers, **kw)


def kept(svc: Crisis) -> list[tuple[str, str, str | None]]:
    with svc.store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT provider_id, status, code FROM early_receipts"))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_signed_callback_is_kept_without_entering_flask_with_the_views_headers_and_log(
    app: tuple[Flask, list[str]], svc: Crisis, caplog: pytest.LogCaptureFixture
) -> None:
    flask_app, entered = app
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    with caplog.at_level(logging.INFO, logger="crisis.request"):
        resp = post(flask_app, form, headers={"X-Request-ID": "abc-123"})
    assert resp.status_code == 204 and resp.data == b""
    assert entered == []  # answered before Flask
    assert kept(svc) == [("SM1", "failed", "30003")]
    assert resp.headers["X-Request-ID"] == "abc-123"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in resp.headers
    [line] = [r for r in caplog.records if r.name == "crisis.request"]
    assert line.getMessage() == f"POST {PATH} 204"
    assert line.__dict__["request_id"] == "abc-123" and line.__dict__["user"] is None


def test_a_callback_naming_no_message_gets_the_views_json_400(
    app: tuple[Flask, list[str]], svc: Crisis
) -> None:
    flask_app, entered = app
    resp = post(flask_app, {"MessageStatus": "delivered"})
    assert resp.status_code == 400 and resp.is_json
    assert "MessageSid" in resp.get_json()["message"]
    assert entered == ["flask"] and kept(svc) == []


@pytest.mark.parametrize(
    "headers",
    [{"X-Twilio-Signature": "bm90IGl0"}, {"X-Twilio-Signature": ""}],
    ids=["wrong", "empty"],
)
def test_a_wrongly_signed_callback_is_refused_by_the_view(
    app: tuple[Flask, list[str]], svc: Crisis, headers: dict[str, str]
) -> None:
    flask_app, entered = app
    resp = post(flask_app, {"MessageSid": "SM1", "MessageStatus": "sent"}, headers=headers)
    assert resp.status_code == 403 and resp.is_json
    assert entered == ["flask"] and kept(svc) == []


def test_a_repeated_field_is_left_to_the_view(app: tuple[Flask, list[str]], svc: Crisis) -> None:
    """The view signs and reads the first of repeated values: the gate does not guess."""
    flask_app, entered = app
    pairs = MultiDict([("MessageSid", "SM1"), ("MessageSid", "SM2"), ("MessageStatus", "sent")])
    signature = RequestValidator(TOKEN).compute_signature(
        HERE, {"MessageSid": "SM1", "MessageStatus": "sent"}
    )
    resp = flask_app.test_client().post(PATH, data=pairs, headers={"X-Twilio-Signature": signature})
    assert entered == ["flask"]
    assert resp.status_code == 204 and kept(svc) == [("SM1", "sent", None)]


def test_an_unknown_host_is_refused_by_flask_and_nothing_is_kept(
    app: tuple[Flask, list[str]], svc: Crisis
) -> None:
    flask_app, entered = app
    url = "http://evil.example" + PATH
    form = {"MessageSid": "SM1", "MessageStatus": "sent"}
    resp = post(flask_app, form, url=url, base_url="http://evil.example")
    assert resp.status_code == 400 and entered == ["flask"] and kept(svc) == []


def test_an_unstorable_character_gets_the_views_400_naming_the_field(
    app: tuple[Flask, list[str]], svc: Crisis
) -> None:
    flask_app, entered = app
    resp = post(flask_app, {"MessageSid": "SM1", "MessageStatus": "sent", "ErrorCode": "3\x00"})
    assert resp.status_code == 400 and resp.is_json
    assert "ErrorCode" in resp.get_data(as_text=True)
    assert entered == ["flask"] and kept(svc) == []


def test_a_body_that_is_not_a_small_form_takes_the_long_way(
    app: tuple[Flask, list[str]], svc: Crisis
) -> None:
    flask_app, entered = app
    signature = RequestValidator(TOKEN).compute_signature(HERE, {})
    resp = flask_app.test_client().post(
        PATH,
        json={"MessageSid": "SM1", "MessageStatus": "sent"},
        headers={"X-Twilio-Signature": signature},
    )
    assert entered == ["flask"] and resp.status_code == 400 and kept(svc) == []


def test_a_failed_write_is_tried_again_by_the_view(
    app: tuple[Flask, list[str]], svc: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_app, entered = app
    real = svc.delivery.record_receipt
    calls: list[str] = []

    def flaky(**receipt: Any) -> None:
        calls.append(receipt["provider_id"])
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        real(**receipt)

    monkeypatch.setattr(svc.delivery, "record_receipt", flaky)
    resp = post(flask_app, {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert resp.status_code == 204 and calls == ["SM1", "SM1"] and entered == ["flask"]
    assert kept(svc) == [("SM1", "delivered", None)]


def test_a_write_that_keeps_failing_gets_the_views_json_error(
    app: tuple[Flask, list[str]], svc: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_app, _ = app

    def broken(**_receipt: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(svc.delivery, "record_receipt", broken)
    resp = post(flask_app, {"MessageSid": "SM1", "MessageStatus": "delivered"})
    assert resp.status_code >= 500 and resp.is_json
    assert "Traceback" not in resp.get_data(as_text=True)


def test_behind_a_public_url_the_callback_is_signed_over_that_url(
    svc: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_app, entered = gated_app(svc, monkeypatch, public_url="https://status.example.org/")
    form = {"MessageSid": "SM1", "MessageStatus": "sent"}
    local = post(
        flask_app, form
    )  # signed over the URL as this server sees it: not what Twilio signs
    assert local.status_code == 403 and entered == ["flask"]
    public = post(flask_app, form, url="https://status.example.org" + PATH)
    assert public.status_code == 204 and entered == ["flask"]  # the second one never entered Flask
    assert kept(svc) == [("SM1", "sent", None)]


def test_a_callback_with_a_query_string_is_signed_over_it(
    app: tuple[Flask, list[str]], svc: Crisis
) -> None:
    flask_app, entered = app
    form = {"CallSid": "CA1", "CallStatus": "completed"}
    signature = RequestValidator(TOKEN).compute_signature(HERE + "?d=7", form)
    client = flask_app.test_client()
    resp = client.post(PATH + "?d=7", data=form, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 204 and entered == []
    wrong = client.post(PATH + "?d=8", data=form, headers={"X-Twilio-Signature": signature})
    assert wrong.status_code == 403 and entered == ["flask"]
    assert [r[0] for r in kept(svc)] == ["CA1"]


def test_without_the_token_the_view_says_the_hook_is_not_configured(
    app: tuple[Flask, list[str]], svc: Crisis, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_app, entered = app
    form = {"MessageSid": "SM1", "MessageStatus": "sent"}
    signature = RequestValidator(TOKEN).compute_signature(HERE, form)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    resp = flask_app.test_client().post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 403 and "not configured" in resp.get_data(as_text=True)
    assert entered == ["flask"] and kept(svc) == []
