"""Monitoring hooks through the web app on a real database: declare, deduplicate, resolve."""

from __future__ import annotations

import base64
import shutil
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.monitoring.alerts import AlertIn
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from tests.conftest import ADMIN, OPERATOR, PLAYBOOKS
from web import create_app
from web.config import Config, Secret


@pytest.fixture
def app(service: Crisis) -> Flask:
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=service, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def token(service: Crisis) -> str:
    service.accounts.add_user(actor=ADMIN, username="alertmanager", role="automation")
    return service.accounts.create_token(actor=ADMIN, username="alertmanager", name="am")[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def am_payload(
    *alerts: dict[str, Any], group: str = '{}:{alertname="SignallingFailure"}'
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": group,
        "status": "firing",
        "receiver": "crisiscomms",
        "groupLabels": {"alertname": "SignallingFailure"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": list(alerts),
    }


def alert(
    fingerprint: str = "a1",
    status: str = "firing",
    severity: str = "critical",
    line: str = "lille",
    starts: str = "2026-11-23T08:59:00Z",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "SignallingFailure", "severity": severity, "line": line},
        "annotations": {"summary": f"Signalling failure on the {line} line"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def post(client: FlaskClient, token: str, payload: dict[str, Any]) -> Any:
    resp = client.post("/hooks/alertmanager", json=payload, headers=bearer(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["outcomes"]


def test_an_alert_declares_freezes_pages_and_drafts_with_no_human(
    client: FlaskClient, service: Crisis, token: str
) -> None:
    promo = service.calendar.create_post(
        actor=service.accounts.add_user(actor=ADMIN, username="m", role="marketer").as_actor(),
        fields={
            "channel": "twitter",
            "body": "Christmas fares!",
            "publish_at": service.clock.now() + timedelta(minutes=5),
            "tags": ["promo"],
        },
    )
    [out] = post(client, token, am_payload(alert()))
    assert out["action"] == "declared" and out["playbook"] == "rail-disruption"
    inc = service.incidents.get(incident_id=out["incident_id"])
    assert (inc.severity, inc.regions, inc.declared_by) == ("sev1", ("lille",), "alertmanager")
    assert inc.title == "Signalling failure on the lille line"
    # the freeze holds the promo ...
    [freeze] = service.calendar.list_freezes(active=True)
    assert freeze["incident_id"] == inc.id
    service.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    service.calendar.publish_due()
    held = service.calendar.get_post(post_id=promo["id"])
    assert held["state"] == "held" and held["held_by"] == [freeze["id"]]
    # ... escalation has started ...
    assert service.incidents.escalation_status(inc) is not None
    # ... and the holding statement waits for a person, although sev1 pre-approves it.
    [draft] = service.updates.list_updates(incident_id=inc.id)
    assert draft["template"] == "holding" and draft["status"] == "pending_approval"
    assert draft["author"] == "alertmanager"
    types = [e.type for e in service.incidents.timeline(incident_id=inc.id)]
    assert types[:1] == ["declared"] and "froze" in types and "drafted" in types
    assert "published" not in types


def test_repeated_notifications_do_not_declare_twice(
    client: FlaskClient, service: Crisis, token: str
) -> None:
    first = post(client, token, am_payload(alert()))
    again = post(client, token, am_payload(alert()))  # repeat_interval, or the HA peer
    assert again[0]["action"] == "duplicate"
    assert again[0]["incident_id"] == first[0]["incident_id"]
    # another alert of the same group joins the open incident
    joined = post(client, token, am_payload(alert(), alert("a2", line="calais")))
    assert [o["action"] for o in joined] == ["duplicate", "joined"]
    assert service.incidents.list_incidents(state="all").total == 1
    events = [e.type for e in service.incidents.timeline(incident_id=first[0]["incident_id"])]
    assert events.count("declared") == 1 and events.count("alert_joined") == 1


def test_resolution_is_recorded_and_offered_not_applied(
    client: FlaskClient, service: Crisis, token: str
) -> None:
    [out] = post(client, token, am_payload(alert(), alert("a2", line="calais")))[:1]
    iid = out["incident_id"]
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    one = post(client, token, am_payload(alert(status="resolved")))
    assert one[0]["action"] == "resolved"
    assert [e.type for e in service.incidents.timeline(incident_id=iid)][-1] == "alert_resolved"
    post(client, token, am_payload(alert("a2", status="resolved", line="calais")))
    post(client, token, am_payload(alert("a2", status="resolved", line="calais")))  # repeat
    timeline = service.incidents.timeline(incident_id=iid)
    types = [e.type for e in timeline]
    assert types.count("alert_resolved") == 2 and types[-1] == "monitoring_resolved"
    assert timeline[-1].data == {"offer": "resolve", "auto_resolve": False}
    assert service.incidents.get(incident_id=iid).state == "investigating"  # people decide
    page = login_page(client, service, iid)
    assert "Monitoring reports every alert resolved" in page


def login_page(client: FlaskClient, service: Crisis, iid: int) -> str:
    service.accounts.add_user(actor=ADMIN, username="op", role="operator", password="op-password-1")
    page = client.get("/login").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    client.post(
        "/login", data={"username": "op", "password": "op-password-1", "csrf_token": csrf.group(1)}
    )
    return client.get(f"/incidents/{iid}").get_data(as_text=True)


def test_auto_resolve_where_the_playbook_says_so(
    tmp_path: Path, service: Crisis, channel_map: dict[str, Channel], clock: FakeClock
) -> None:
    books = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, books)
    path = books / "payments-outage.yaml"
    path.write_text(path.read_text().replace("auto_resolve: false", "auto_resolve: true"))
    svc = Crisis(
        store=service.store,
        catalog=Catalog.load([books], channels=frozenset(channel_map)),
        clock=clock,
        channels=channel_map,
    )
    robot = svc.accounts.add_user(actor=ADMIN, username="am", role="automation").as_actor()
    labels = {"alertname": "PaymentsErrorRateHigh", "severity": "warning", "region": "eu"}
    firing = AlertIn("firing", labels, "p1", "2026-11-23T09:00:00Z")
    [out] = svc.monitoring.ingest(
        actor=robot, source="alertmanager", group_key="g", alerts=[firing]
    )
    assert out.action == "declared"
    svc.incidents.fire(actor=OPERATOR, incident_id=out.incident_id or 0, trigger="mitigate")
    resolved = AlertIn("resolved", labels, "p1", "2026-11-23T09:00:00Z")
    svc.monitoring.ingest(actor=robot, source="alertmanager", group_key="g", alerts=[resolved])
    inc = svc.incidents.get(incident_id=out.incident_id or 0)
    assert inc.state == "resolved"
    last = [e for e in svc.incidents.timeline(incident_id=inc.id) if e.type == "transitioned"][-1]
    assert last.actor == "am (auto_resolve)" and last.data["note"] == "all alerts resolved"


def test_unmatched_alerts_are_answered_200_and_logged(
    client: FlaskClient, service: Crisis, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="crisis.monitoring")
    other = alert() | {"labels": {"alertname": "DiskFull", "instance": "db1"}}
    unmapped = alert(severity="info")  # the rail trigger maps only critical and warning
    outs = post(client, token, am_payload(other, unmapped))
    assert [o["action"] for o in outs] == ["unmatched", "unmatched"]
    assert "maps to no severity" in outs[1]["reason"]
    assert "DiskFull" in caplog.text
    assert service.incidents.list_incidents(state="all").total == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"alerts": "many"}', "application/json"),
        (b'{"alerts": [{"status": "burning", "labels": {}}]}', "application/json"),
        (b'{"alerts": [{"status": "firing", "labels": {"a": 1}}]}', "application/json"),
        (b"alerts=1", "application/x-www-form-urlencoded"),
        (b"[]", "application/json"),
    ],
)
def test_malformed_payloads_are_400(
    client: FlaskClient, token: str, body: bytes, content_type: str
) -> None:
    resp = client.post(
        "/hooks/alertmanager", data=body, headers=bearer(token) | {"Content-Type": content_type}
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "bad_request"


def test_credentials(client: FlaskClient, service: Crisis, token: str) -> None:
    payload = am_payload(alert())
    assert client.post("/hooks/alertmanager", json=payload).status_code == 401
    service.accounts.add_user(actor=ADMIN, username="olu", role="operator")
    op_token = service.accounts.create_token(actor=ADMIN, username="olu", name="t")[1]
    assert (
        client.post("/hooks/alertmanager", json=payload, headers=bearer(op_token)).status_code
        == 403
    )
    bad = bearer("cc_not-a-token")
    assert client.post("/hooks/alertmanager", json=payload, headers=bad).status_code == 401

    def basic(user: str, password: str) -> dict[str, str]:
        raw = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    ok = client.post("/hooks/alertmanager", json=payload, headers=basic("alertmanager", token))
    assert ok.status_code == 200
    wrong_user = client.post("/hooks/alertmanager", json=payload, headers=basic("olu", token))
    assert wrong_user.status_code == 401


def test_the_generic_webhook_trigger(client: FlaskClient, service: Crisis, token: str) -> None:
    body = {
        "status": "firing",
        "id": "dlp-4411",
        "labels": {"detector": "dlp-exfiltration"},
        "title": "Unusual export of customer records",
        "description": "DLP saw 40k rows leave the CRM",
    }
    resp = client.post("/hooks/webhook/webhook", json=body, headers=bearer(token))
    [out] = resp.get_json()["outcomes"]
    assert out["action"] == "declared" and out["playbook"] == "data-breach"
    inc = service.incidents.get(incident_id=out["incident_id"])
    assert inc.title == "Unusual export of customer records" and inc.severity == "sev3"
    assert inc.summary == "DLP saw 40k rows leave the CRM"
    again = client.post("/hooks/webhook/webhook", json=body, headers=bearer(token))
    assert again.get_json()["outcomes"][0]["action"] == "duplicate"
    done = client.post(
        "/hooks/webhook/webhook", json=body | {"status": "resolved"}, headers=bearer(token)
    )
    assert done.get_json()["outcomes"][0]["action"] == "resolved"
    assert client.post("/hooks/webhook/nagios", json=body, headers=bearer(token)).status_code == 404
    missing = client.post(
        "/hooks/webhook/webhook", json={"status": "firing"}, headers=bearer(token)
    )
    assert missing.status_code == 400 and "id" in str(missing.get_json()["details"])


def test_concurrent_notifications_of_one_group_declare_once(service: Crisis) -> None:
    """Alertmanager's HA pair sends each notification twice, at the same moment."""
    robot = service.accounts.add_user(actor=ADMIN, username="am", role="automation").as_actor()
    labels = {"alertname": "SignallingFailure", "severity": "warning", "line": "calais"}
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def send(i: int) -> None:
        barrier.wait()
        outs = service.monitoring.ingest(
            actor=robot,
            source="alertmanager",
            group_key="g1",
            alerts=[AlertIn("firing", labels | {"n": str(i % 2)}, f"f{i % 2}", "t0")],
        )
        outcomes.extend(o.action for o in outs)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["declared", "duplicate", "duplicate", "joined"]
    assert service.incidents.list_incidents(state="all").total == 1
