"""Operations endpoints: Prometheus /metrics and the alarm-clock part of /readyz."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from engine.app import Crisis
from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt
from engine.timers.schedule import fire_due
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_web import bearer
from tests.outbox import drain, outbox_worker
from web.runtime import Runtime


class Refuses:
    """A notifier that refuses every number as invalid (Twilio 21211)."""

    def send(self, message: OutboundMessage) -> Receipt:
        raise SendFailed("invalid number", permanent=True, code="21211")


def samples(app: Flask, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = app.test_client().get("/metrics", headers=bearer(token))
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_report_incidents_freezes_outbox_latency_lateness_and_errors(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    metrics = app.extensions["crisis.metrics"]
    svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="a", regions=["lille"]
    )
    svc.incidents.declare(actor=OPERATOR, playbook="payments-outage", severity="sev2", title="b")
    for i in range(3):
        svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone=f"+1555555300{i}")
    u = svc.updates.draft_update(
        actor=OPERATOR, incident_id=1, audience="passengers", body="Next update by 10:00 GMT."
    )
    svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    before = samples(app, tokens["robot"])
    assert before[("crisis_open_incidents", (("severity", "sev1"),))] == 1
    assert before[("crisis_open_incidents", (("severity", "sev2"),))] == 1
    assert before[("crisis_active_freezes", ())] == 2  # both playbooks freeze on declaration
    assert before[("crisis_outbox_deliveries", (("state", "pending"),))] >= 5
    worker = outbox_worker(svc, notifiers={"sms": Refuses()}, metrics=metrics)
    svc.clock.advance(timedelta(seconds=3))  # type: ignore[attr-defined]
    drain(worker)
    svc.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    fired = fire_due(
        svc.store, svc.timer_handlers(), now=svc.clock.now(), node="t", metrics=metrics
    )
    assert fired > 0
    after = samples(app, tokens["robot"])
    assert after[("crisis_provider_errors_total", (("channel", "sms"), ("code", "21211")))] >= 3
    assert after[("crisis_delivery_latency_seconds_count", (("channel", "twitter"),))] == 1
    assert after[("crisis_delivery_latency_seconds_sum", (("channel", "twitter"),))] == 3.0
    lateness = after[("crisis_timer_lateness_seconds_count", (("kind", "escalation_step"),))]
    assert lateness >= 1
    assert after[("crisis_outbox_deliveries", (("state", "failed"),))] >= 3  # permanent: no retry


def test_metrics_need_a_token(app: Flask) -> None:
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 401 and resp.get_json()["error"] == "unauthorized"


def test_readiness_includes_the_alarm_clock_where_one_runs(app: Flask, svc: Crisis) -> None:
    client = app.test_client()
    assert "alarm_clock" not in client.get("/readyz").get_json()["checks"]  # web only
    runtime = Runtime(svc, safety=0.2)
    app.extensions["crisis.runtime"] = runtime
    not_yet = client.get("/readyz")
    assert not_yet.status_code == 503
    assert not_yet.get_json()["checks"]["alarm_clock"] == "no pass completed recently"
    runtime.start()
    try:
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").get_json()["checks"]["alarm_clock"] == "ok"
    finally:
        runtime.stop()
