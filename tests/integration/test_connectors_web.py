"""Freeze connectors through the web: the freeze's platforms in the API and on the incident
page, items in review on the calendar page and decided there or by the API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import parse_config
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from notifiers.marketing.sandbox import SandboxPlatform
from tests.conftest import ADMIN
from tests.integration.test_connectors import config_text, seed
from tests.integration.test_web import bearer, csrf_of, login
from tests.outbox import drain, outbox_worker
from web import create_app
from web.config import Config, Secret


@pytest.fixture
def platform() -> SandboxPlatform:
    return SandboxPlatform("crm")


@pytest.fixture
def crisis(tmp_path: Path, catalog: Catalog, platform: SandboxPlatform) -> Crisis:
    store = Store.from_url(f"sqlite:///{tmp_path / 'web.db'}")
    store.upgrade()
    channels, connectors = parse_config(config_text(), file="channels.yaml")
    c = Crisis(
        store=store, catalog=catalog, clock=FakeClock(), channels=channels,
        connectors=connectors, platforms={"crm": platform},
    )  # fmt: skip
    for username, role in [("comms", "comms_lead"), ("viewer", "viewer")]:
        c.accounts.add_user(
            actor=ADMIN, username=username, role=role, password=f"{username}-password"
        )
    return c


@pytest.fixture
def app(crisis: Crisis) -> Flask:
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=crisis, test_config={"TESTING": True})


def run(crisis: Crisis, platform: SandboxPlatform) -> None:
    drain(outbox_worker(crisis, notifiers={"crm": ConnectorNotifier(platform)}))


def test_the_freeze_shows_each_platform_and_its_items_in_the_api_and_on_the_page(
    app: Flask, crisis: Crisis, platform: SandboxPlatform
) -> None:
    seed(platform, crisis.clock)
    client = app.test_client()
    token = crisis.accounts.create_token(actor=ADMIN, username="comms", name="t")[1]
    inc = client.post(
        "/api/v1/incidents",
        headers=bearer(token),
        json={
            "playbook": "rail-disruption",
            "severity": "sev1",
            "title": "Stuck",
            "regions": ["lille"],
        },
    ).get_json()
    run(crisis, platform)
    (freeze,) = client.get("/api/v1/freezes?active=true", headers=bearer(token)).get_json()["items"]
    (c,) = freeze["connectors"]
    assert c["connector"] == "crm" and c["confirmed_at"].endswith("Z")
    assert c["text"] == "crm (Sandbox platform): 2 of 2 scheduled items paused"
    items = client.get(f"/api/v1/freezes/{freeze['id']}/items", headers=bearer(token)).get_json()
    assert [(i["ref"], i["state"]) for i in items] == [("b", "paused"), ("a", "paused")]
    login(client, "viewer")
    page = client.get(f"/incidents/{inc['id']}").get_data(as_text=True)
    assert "Marketing platforms" in page and "2 of 2 scheduled items paused" in page
    assert "2 paused on marketing platforms" in page  # the banner on every page


def test_items_in_review_are_decided_on_the_calendar_page_or_by_the_api(
    app: Flask, crisis: Crisis, platform: SandboxPlatform
) -> None:
    seed(platform, crisis.clock)
    client = app.test_client()
    token = crisis.accounts.create_token(actor=ADMIN, username="comms", name="t")[1]
    f = client.post(
        "/api/v1/freezes", headers=bearer(token),
        json={"scope": {"tags": ["promo"]}, "reason": "storm"},
    ).get_json()  # fmt: skip
    run(crisis, platform)
    client.post(f"/api/v1/freezes/{f['id']}/lift", headers=bearer(token), json={"reason": "ok"})
    review = client.get("/api/v1/platform-items", headers=bearer(token)).get_json()
    assert {i["ref"] for i in review} == {"a", "b", "d"}
    login(client, "comms")
    page = client.get("/calendar").get_data(as_text=True)
    assert "Review on marketing platforms" in page and "Lille weekend" in page
    item = {i["ref"]: i["id"] for i in review}
    resp = client.post(
        "/calendar/platform-review",
        data={
            "csrf_token": csrf_of(client, "/calendar"),
            "item_id": item["a"],
            "action": "publish",
        },
    )
    assert resp.status_code == 302
    later = (crisis.clock.now() + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    out = client.post(
        f"/api/v1/platform-items/{item['b']}/review", headers=bearer(token),
        json={"action": "reschedule", "send_at": later},
    )  # fmt: skip
    assert out.status_code == 200 and out.get_json()["state"] == "restoring"
    bad = client.post(
        f"/api/v1/platform-items/{item['d']}/review", headers=bearer(token),
        json={"action": "reschedule", "send_at": "tomorrow"},
    )  # fmt: skip
    assert bad.status_code == 422 and "send_at" in bad.get_json()["details"]
    run(crisis, platform)
    assert platform.active() == ["a", "b", "c"]
    assert platform.entries["b"].send_at == crisis.clock.now() + timedelta(days=2)
