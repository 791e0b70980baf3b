"""JSON logs carry the request and the incident, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from engine.app import Crisis
from engine.kernel.ports import OutboundMessage, Receipt
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_web import bearer
from tests.outbox import outbox_worker
from web import logs
from web.config import Config, Secret

SECRET = "tw-auth-9f8e7d6c5b4a"  # what TWILIO_AUTH_TOKEN holds in these tests
DB_PASSWORD = "pg-pass-c0ffee"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Every log line, as production writes it, into a buffer."""
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", SECRET)
    out = io.StringIO()
    h = logs.handler(out, fmt="json", secrets=logs.secret_values())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(h)
        root.setLevel(old_level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_request_lines_carry_request_and_incident_ids(
    app: Flask, svc: Crisis, tokens: dict[str, str], captured: io.StringIO
) -> None:
    inc = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t"
    )
    resp = app.test_client().get(
        f"/api/v1/incidents/{inc.id}",
        headers=bearer(tokens["viewer"]) | {"X-Request-ID": "abc-123"},
    )
    assert resp.headers["X-Request-ID"] == "abc-123"
    [line] = [x for x in lines(captured) if x["logger"] == "crisis.request"]
    assert line["request_id"] == "abc-123" and line["incident_id"] == inc.id
    assert (line["method"], line["path"], line["status"], line["user"]) == (
        "GET",
        f"/api/v1/incidents/{inc.id}",
        200,
        "viewer",
    )
    made_up = app.test_client().get("/healthz", headers={"X-Request-ID": "<bad id>"})
    assert len(made_up.headers["X-Request-ID"]) == 32  # a hostile id is replaced
    app.test_client().get("/status/unsubscribe/secret-capability-token")
    assert "secret-capability-token" not in captured.getvalue()
    assert "/status/unsubscribe/****" in captured.getvalue()


class Leaky:
    """A notifier whose error message repeats its credentials, as careless SDKs do."""

    def send(self, message: OutboundMessage) -> Receipt:
        raise RuntimeError(
            f"POST https://AC123:{SECRET}@api.twilio.com failed; "
            f"Authorization: Bearer cc_abcdefghijklmnopqrstuvwxyz; db postgresql://crisis:{DB_PASSWORD}@db/x"
        )


def test_worker_lines_carry_the_incident_and_no_secret(svc: Crisis, captured: io.StringIO) -> None:
    svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone="+15555554000")
    inc = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t"
    )
    u = svc.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body="Next update by 10:00 GMT."
    )
    svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    worker = outbox_worker(svc, notifiers={name: Leaky() for name in svc.channels})
    worker.run_once()
    worker.stop()
    logging.getLogger("crisis.test").info(
        "config %r",
        Config(
            database_url=f"postgresql://crisis:{DB_PASSWORD}@db/crisis", secret_key=Secret(SECRET)
        ),
    )
    text = captured.getvalue()
    assert "notifier for" in text  # the failure was logged, with its traceback
    assert SECRET not in text and DB_PASSWORD not in text
    assert "cc_abcdefghijklmnop" not in text and "Bearer ****" in text
    failures = [x for x in lines(captured) if x["logger"] == "crisis.worker"]
    assert failures and all(x["incident_id"] == inc.id for x in failures)
    assert all("error" in x for x in failures if x["level"] == "error")


def test_provider_clients_log_requests_only_at_debug() -> None:
    """Twilio's client logs 11 lines an SMS at INFO: quiet unless the level is DEBUG."""
    import logging

    from web.logs import CHATTY, quiet

    try:
        quiet("INFO")
        assert not any(logging.getLogger(n).isEnabledFor(logging.INFO) for n in CHATTY)
        assert logging.getLogger("twilio.http_client").isEnabledFor(logging.WARNING)
        quiet("DEBUG")
        assert logging.getLogger("twilio.http_client").isEnabledFor(logging.DEBUG)
    finally:
        for n in CHATTY:
            logging.getLogger(n).setLevel(logging.NOTSET)
