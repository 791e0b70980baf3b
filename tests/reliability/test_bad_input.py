"""Bad input on every JSON operation: malformed JSON, wrong content types, oversized bodies,
text no database stores, and Unicode that must survive. Each answer is a JSON 4xx, on SQLite
and on PostgreSQL, and the database is unharmed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.updates.rules import sms_segments
from tests.conftest import ADMIN
from web import create_app
from web.api import api
from web.config import Config, Secret

ROLES = {"operator": "operator", "comms": "comms_lead", "marketer": "marketer", "admin": "admin"}


@pytest.fixture
def app(service: Crisis) -> Flask:
    for name, role in ROLES.items():
        service.accounts.add_user(
            actor=ADMIN, username=name, role=role, password=f"{name}-password"
        )
    service.accounts.add_user(actor=ADMIN, username="robot", role="automation")
    return create_app(
        Config(database_url="sqlite://", secret_key=Secret("k")),
        crisis=service,
        test_config={"TESTING": True},
    )


@pytest.fixture
def admin(app: Flask, service: Crisis) -> dict[str, str]:
    _, token = service.accounts.create_token(actor=ADMIN, username="admin", name="t")
    return {"Authorization": f"Bearer {token}"}


def json_operations() -> list[tuple[str, str]]:
    return [
        (op.method, "/api/v1" + re.sub(r"<(?:\w+:)?(\w+)>", "1", op.rule))
        for op in api.operations
        if op.body is not None
    ]


def declare(client: FlaskClient, headers: dict[str, str], title: str) -> Any:
    body = {"playbook": "rail-disruption", "severity": "sev2", "title": title, "regions": ["lille"]}
    return client.post("/api/v1/incidents", json=body, headers=headers)


def test_every_json_operation_refuses_bad_bodies_with_json_4xx(
    app: Flask, admin: dict[str, str]
) -> None:
    client = app.test_client()
    assert declare(client, admin, "seed").status_code == 201  # id 1 exists for the paths
    ops = json_operations()
    assert len(ops) >= 11
    cases = [
        (b"{not json", "application/json", {400}),
        (b'{"a": 1}', "text/plain", {400}),
        (b"<xml/>", "application/xml", {400}),
        (b'{"title": "' + b"a" * 1_100_000 + b'"}', "application/json", {413}),
        (
            b'{"title": "a\\u0000b", "body": "x\\u0000", "reason": "\\u0000"}',
            "application/json",
            {422},
        ),
        (
            b'{"title": "\\ud800", "body": "\\ud800", "reason": "\\udfff"}',
            "application/json",
            {422},
        ),
    ]
    for method, path in ops:
        for data, content_type, expected in cases:
            resp = client.open(
                path, method=method, data=data, headers=admin | {"Content-Type": content_type}
            )
            where = (method, path, content_type, data[:30])
            assert resp.status_code in expected, (where, resp.status_code, resp.get_data()[:200])
            body = resp.get_json()
            assert body is not None and {"error", "message"} <= set(body), where


@pytest.mark.parametrize(
    "title",
    [
        "Zürich ↔ Lille 🚆 « grève »",
        "👩‍👩‍👧‍👦 family emoji, ZWJ sequences",
        "\u202eRTL override\u202c and עברית",
        "e\u0301\u0301\u0301 combining marks",
        "東京 新幹線 運転見合わせ",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 𐍈",
        "tab\tand\nnewline are folded",
    ],
)
def test_unicode_titles_survive_the_round_trip(
    app: Flask, admin: dict[str, str], title: str
) -> None:
    client = app.test_client()
    resp = declare(client, admin, title)
    assert resp.status_code == 201, resp.get_json()
    got = client.get(f"/api/v1/incidents/{resp.get_json()['id']}", headers=admin).get_json()
    assert got["title"] == " ".join(title.split())


def test_unicode_in_templates_and_sms_segments(app: Flask, admin: dict[str, str]) -> None:
    client = app.test_client()
    iid = declare(client, admin, "Grève à Lille 🚆").get_json()["id"]
    fr = client.post(
        f"/api/v1/incidents/{iid}/updates",
        json={"audience": "passengers", "template": "holding", "locale": "fr"},
        headers=admin,
    ).get_json()
    assert "perturbés" in fr["rendered"]["sms"]
    emoji = client.post(
        f"/api/v1/incidents/{iid}/updates",
        json={
            "audience": "passengers",
            "body": "Trains 🚆 stopped. Next update by 10:00 GMT. " * 3,
        },
        headers=admin,
    ).get_json()
    text = emoji["rendered"]["sms"]
    assert emoji["segments"]["sms"] == sms_segments(text) and sms_segments(text) >= 2  # UCS-2


def test_hooks_and_forms_refuse_unstorable_text(app: Flask, service: Crisis) -> None:
    client = app.test_client()
    _, token = service.accounts.create_token(actor=ADMIN, username="robot", name="t")
    robot = {"Authorization": f"Bearer {token}"}
    hook = client.post(
        "/hooks/alertmanager",
        json={"alerts": [{"status": "firing", "labels": {"alertname": "x\u0000"}}]},
        headers=robot,
    )
    assert hook.status_code == 400 and hook.get_json()["error"] == "bad_request"
    page = client.get("/status/subscribe").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    form = client.post(
        "/status/subscribe",
        data={"email": "a\x00@example.org", "via": "email", "csrf_token": csrf.group(1)},
    )
    assert form.status_code == 400
    token = service.accounts.create_token(actor=ADMIN, username="marketer", name="t")[1]
    imported = client.post(
        "/api/v1/posts/import",
        data="channel,body,publish_at\ntwitter,a\x00b,2030-01-01T00:00:00Z\n",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/csv",
        },
    )
    assert imported.status_code == 422
    assert imported.get_json()["details"]["errors"][0]["line"] == 2
    assert service.incidents.list_incidents(state="all").total == 0
