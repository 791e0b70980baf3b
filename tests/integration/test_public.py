"""The public status page, its Atom and CAP feeds and the Statuspage-compatible JSON.

Only what was published reaches the public: drafts, rejected updates and internal state
changes never do. Feeds are parsed by independent parsers (feedparser; cap-tools' bindings
generated from the OASIS CAP 1.2 schema).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import feedparser
import pytest
from cap_tools import Alert, MsgType, Reference, ResponseType
from flask import Flask
from flask.testing import FlaskClient
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from tests.conftest import COMMS, OPERATOR
from tests.outbox import drain, outbox_worker
from web import create_app
from web.config import Config, Secret

SECRET_DRAFT = "DRAFT-NEVER-PUBLIC zebra"
SECRET_REJECTED = "REJECTED-NEVER-PUBLIC okapi"
CAP_PARSER = XmlParser(ParserConfig(fail_on_unknown_properties=True))


@pytest.fixture
def app(service: Crisis) -> Flask:
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=service, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def deliver(service: Crisis, clock: FakeClock) -> None:
    """Run the outbox dry, with the status page channel writing real entries."""
    drain(outbox_worker(service, clock=clock, status_page=True))


def publish(service: Crisis, clock: FakeClock, incident_id: int, body: str) -> int:
    """Draft (operator), approve (a comms lead: two-person rule), deliver; return its id."""
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=incident_id, audience="passengers", body=body
    )
    service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    deliver(service, clock)
    clock.advance(timedelta(minutes=5))
    return int(u["id"])


def declare(service: Crisis, severity: str = "sev1", regions: tuple[str, ...] = ("lille",)) -> int:
    return service.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity=severity,
        title="Trains stopped near Lille",
        regions=list(regions),
    ).id


@pytest.fixture
def story(service: Crisis, clock: FakeClock) -> dict[str, Any]:
    """An incident with two published updates, one draft, one rejected, then resolved."""
    iid = declare(service)
    first = publish(service, clock, iid, "Trains are stopped near Lille. Next update by 09:30 GMT.")
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="identify")
    second = publish(service, clock, iid, "A rescue train is on its way. Next update by 10:00 GMT.")
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", body=SECRET_DRAFT
    )
    rejected = service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", body=SECRET_REJECTED
    )
    service.updates.reject_update(actor=COMMS, update_id=rejected["id"], reason="not yet")
    open_only = {"incident": iid, "first": first, "second": second}
    return open_only


def test_status_page_shows_published_updates_and_component_status(
    client: FlaskClient, story: dict[str, Any]
) -> None:
    resp = client.get("/status")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Major disruption" in html  # sev1 is the playbook's worst severity
    assert "A rescue train is on its way" in html and "Trains are stopped near Lille" in html
    assert "Identified" in html  # the state when the second update was published
    # Lille is affected (sev1 → major outage); Calais is not.
    assert 'Lille</span>\n      <span class="cstatus major_outage">' in html
    assert 'Calais</span>\n      <span class="cstatus operational">' in html
    assert SECRET_DRAFT not in html and SECRET_REJECTED not in html
    assert "Promo freeze" not in html  # internal information never reaches the public


def test_internal_state_changes_are_not_announced(
    client: FlaskClient, service: Crisis, story: dict[str, Any]
) -> None:
    """Moving to monitoring without publishing leaves the public status as last published."""
    service.incidents.fire(actor=OPERATOR, incident_id=story["incident"], trigger="mitigate")
    data = client.get("/api/v2/summary.json").get_json()
    assert data["incidents"][0]["status"] == "identified"


def test_atom_feed_has_one_entry_per_published_update(
    client: FlaskClient, service: Crisis, clock: FakeClock, story: dict[str, Any]
) -> None:
    service.incidents.fire(actor=COMMS, incident_id=story["incident"], trigger="resolve")
    resp = client.get("/status/feed.atom")
    assert resp.status_code == 200 and resp.mimetype == "application/atom+xml"
    feed = feedparser.parse(resp.get_data())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    titles = [e.title for e in feed.entries]
    assert len(feed.entries) == 3  # two updates and the resolution, newest first
    assert titles[0] == "Resolved: Trains stopped near Lille"
    assert feed.entries[1].summary.startswith("A rescue train")
    assert all(e.id and e.link and e.updated for e in feed.entries)
    assert len({e.id for e in feed.entries}) == 3
    body = resp.get_data(as_text=True)
    assert SECRET_DRAFT not in body and SECRET_REJECTED not in body


def parse_cap(xml: bytes) -> Alert:
    return CAP_PARSER.from_bytes(xml, Alert)


def test_cap_alerts_chain_alert_update_and_all_clear(
    client: FlaskClient, service: Crisis, story: dict[str, Any]
) -> None:
    service.incidents.fire(actor=COMMS, incident_id=story["incident"], trigger="resolve")
    index = feedparser.parse(client.get("/status/cap.atom").get_data())
    assert not index.bozo
    links = [e.link for e in reversed(index.entries)]  # oldest first
    assert len(links) == 3
    alerts = []
    for link in links:
        resp = client.get(link.replace("http://localhost", ""))
        assert resp.status_code == 200 and resp.mimetype == "application/cap+xml"
        alert = parse_cap(resp.get_data())
        # every element CAP 1.2 requires
        for required in ("identifier", "sender", "sent", "status", "msg_type", "scope"):
            assert getattr(alert, required), required
        [info] = alert.infos
        for required in ("categories", "event", "urgency", "severity", "certainty"):
            assert getattr(info, required), required
        [area] = info.areas
        assert area.area_desc == "lille"
        alerts.append(alert)
    first, second, last = alerts
    assert first.msg_type is MsgType.ALERT and first.references is None
    assert second.msg_type is MsgType.UPDATE
    assert second.references_to_list() == [Reference.from_alert(first)]
    raw = client.get(links[0].replace("http://localhost", "")).get_data(as_text=True)
    assert "<sent>2026-11-23T09:00:00-00:00</sent>" in raw  # CAP forbids "Z"
    assert (first.infos[0].urgency.value, first.infos[0].severity.value) == ("Immediate", "Severe")
    assert first.infos[0].certainty.value == "Observed"
    assert first.infos[0].categories[0].value == "Transport"
    assert last.msg_type is MsgType.UPDATE
    assert last.references_to_list() == [Reference.from_alert(second)]
    assert last.infos[0].response_types == [ResponseType.ALL_CLEAR]
    assert last.infos[0].urgency.value == "Past"


def test_cap_of_a_draft_or_rejected_update_does_not_exist(
    client: FlaskClient, service: Crisis, story: dict[str, Any]
) -> None:
    for u in service.updates.list_updates(incident_id=story["incident"]):
        code = client.get(f"/status/cap/{u['id']}.xml").status_code
        published = u["id"] in (story["first"], story["second"])
        assert code == (200 if published else 404), u


def test_summary_json_is_statuspage_shaped(
    client: FlaskClient, service: Crisis, story: dict[str, Any]
) -> None:
    data = client.get("/api/v2/summary.json").get_json()
    assert set(data) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert data["status"] == {"indicator": "critical", "description": "Major disruption"}
    assert {"id", "name", "url", "time_zone", "updated_at"} <= set(data["page"])
    lille = next(c for c in data["components"] if c["name"] == "Lille")
    assert lille["status"] == "major_outage"
    [inc] = data["incidents"]
    assert inc["impact"] == "critical" and inc["status"] == "identified"
    assert [u["status"] for u in inc["incident_updates"]] == ["identified", "investigating"]
    assert [c["name"] for c in inc["components"]] == ["Lille"]
    service.incidents.fire(actor=COMMS, incident_id=story["incident"], trigger="resolve")
    after = client.get("/api/v2/summary.json").get_json()
    assert after["incidents"] == [] and after["status"]["indicator"] == "none"
    history = client.get("/api/v2/incidents.json").get_json()["incidents"]
    assert history[0]["status"] == "resolved" and history[0]["resolved_at"]
    text = client.get("/api/v2/incidents.json").get_data(as_text=True)
    assert SECRET_DRAFT not in text and SECRET_REJECTED not in text


def test_an_incident_with_nothing_published_is_not_public(
    client: FlaskClient, service: Crisis
) -> None:
    iid = declare(service, regions=("calais",))
    service.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", body=SECRET_DRAFT
    )
    service.incidents.fire(actor=OPERATOR, incident_id=iid, trigger="acknowledge")
    service.incidents.fire(
        actor=COMMS, incident_id=iid, trigger="resolve"
    )  # no public resolution either
    for path in ("/status", "/status/feed.atom", "/status/cap.atom", "/api/v2/incidents.json"):
        body = client.get(path).get_data(as_text=True)
        assert "Trains stopped near Lille" not in body and SECRET_DRAFT not in body, path
    assert client.get(f"/status/incidents/{iid}").status_code == 404


def test_conditional_requests_get_304_until_something_is_published(
    client: FlaskClient, service: Crisis, clock: FakeClock, story: dict[str, Any]
) -> None:
    first = client.get("/status")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=15"
    again = client.get("/status", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    publish(service, clock, story["incident"], "Passengers are moving. Next update by 11:00 GMT.")
    changed = client.get("/status", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Passengers are moving" in changed.get_data(as_text=True)
    assert changed.headers["ETag"] != etag


def test_history_keeps_90_days(
    client: FlaskClient, service: Crisis, clock: FakeClock, story: dict[str, Any]
) -> None:
    service.incidents.fire(actor=COMMS, incident_id=story["incident"], trigger="resolve")
    clock.advance(timedelta(days=89))
    assert "Trains stopped near Lille" in client.get("/status").get_data(as_text=True)
    clock.advance(timedelta(days=2))
    html = client.get("/status").get_data(as_text=True)
    assert "Trains stopped near Lille" not in html and "No incidents in the last 90 days" in html


def test_titles_are_escaped_on_every_public_surface(
    service: Crisis, client: FlaskClient, clock: FakeClock
) -> None:
    iid = service.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev2",
        title="<script>alert(1)</script> & co",
        regions=["lille"],
    ).id
    publish(service, clock, iid, "<img src=x onerror=alert(2)> Next update by 10:00 GMT.")
    html = client.get("/status").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html
    feed = feedparser.parse(client.get("/status/feed.atom").get_data())
    assert not feed.bozo and feed.entries[0].title.endswith("<script>alert(1)</script> & co")
