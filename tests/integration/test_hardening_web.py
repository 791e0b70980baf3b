"""Hostile input at the web entrances (issue 13, items 7, 10, 14, 17)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from flask import Flask

from engine.app import Crisis
from engine.playbooks.yamlsrc import Reader
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_web import bearer, declare, login


def csrf(client: Any, path: str = "/") -> str:
    import re

    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_monitoring_hooks_refuse_a_session_cookie(app: Flask, tokens: dict[str, str]) -> None:
    """Item 7: a logged-in admin's browser cannot be made to declare through a hook."""
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "SignallingFailure"}}]}
    assert client.post("/hooks/alertmanager", json=body).status_code == 401
    ok = client.post("/hooks/alertmanager", json=body, headers=bearer(tokens["robot"]))
    assert ok.status_code == 200


def test_logout_ends_the_cookie_everywhere(app: Flask, svc: Crisis) -> None:
    """Item 14: a copied session cookie stops working at logout and at a password change."""
    client = app.test_client()
    login(client, "operator")
    stolen = client.get_cookie("crisis_session")
    assert stolen is not None
    thief = app.test_client()
    thief.set_cookie("crisis_session", stolen.value)
    assert thief.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert thief.get("/").status_code == 302  # back to the login page

    login(client, "comms")
    copy = app.test_client()
    copy.set_cookie("crisis_session", client.get_cookie("crisis_session").value)  # type: ignore[union-attr]
    assert copy.get("/").status_code == 200
    svc.accounts.update_user(actor=ADMIN, username="comms", password="a-new-long-password")
    assert copy.get("/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_role_change_or_deactivation_ends_sessions(app: Flask, svc: Crisis) -> None:
    client = app.test_client()
    login(client, "marketer")
    assert client.get("/").status_code == 200
    svc.accounts.update_user(actor=ADMIN, username="marketer", role="viewer")
    assert client.get("/").status_code == 302


def test_control_characters_are_refused_and_feeds_stay_valid(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    """Item 10: a \\u0001 in a title once made Atom and CAP invalid XML for 90 days."""
    client = app.test_client()
    bad = declare(client, tokens["operator"], title="Lille \u0001 signalling")
    assert bad.status_code == 422 and "title" in bad.get_json()["details"]
    login(client, "operator")
    form = client.post(
        "/incidents/new",
        data={
            "csrf_token": csrf(client, "/incidents/new"),
            "playbook": "rail-disruption",
            "severity": "sev2",
            "title": "x\u0008y",
        },
    )
    assert form.status_code == 400
    # A row stored before the entrances refused it still serialises to valid XML.
    iid = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="ok"
    ).id
    with svc.store.transaction() as conn:
        import sqlalchemy as sa

        from engine.schema import incidents

        conn.execute(
            sa.update(incidents).where(incidents.c.id == iid).values(title="bad \u0001 title")
        )
    u = svc.updates.draft_update(
        actor=OPERATOR, incident_id=iid, audience="passengers", template="holding"
    )
    if u["status"] == "pending_approval":
        svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    from tests.integration.test_public import deliver

    deliver(svc, svc.clock)  # type: ignore[arg-type]
    for path in ("/status/feed.atom", "/status/cap.atom"):
        ET.fromstring(client.get(path).data)  # raises on invalid XML


def test_deep_json_and_bad_revisions_are_clear_4xx(app: Flask, tokens: dict[str, str]) -> None:
    """Item 17: deep nesting was a RecursionError (500); revision=abc on the form too."""
    client = app.test_client()
    deep = "[" * 100_000 + "]" * 100_000
    resp = client.post(
        "/api/v1/incidents",
        data=deep,
        content_type="application/json",
        headers=bearer(tokens["operator"]),
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "bad_request"
    nested: Any = "x"
    for _ in range(40):
        nested = {"a": nested}
    resp = declare(client, tokens["operator"], summary=nested)
    assert resp.status_code == 400
    login(client, "comms")
    resp = client.post("/updates/1/decide", data={"csrf_token": csrf(client), "revision": "abc"})
    assert resp.status_code == 400


def test_one_summary_limit_at_every_entrance(app: Flask, svc: Crisis) -> None:
    """Item 17: the declare form took a 900 KB summary the API refused."""
    import pytest

    from engine.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev2",
            title="t",
            summary="x" * 5001,
        )
    assert "summary" in refused.value.details


def test_a_yaml_alias_bomb_is_refused_quickly() -> None:
    """Item 17: 3,000 transitions naming a 3,000-state alias took 2.4 GB and over 120 s."""
    states = "[" + ", ".join(f"s{i}" for i in range(3000)) + "]"
    text = (
        "id: x\nstates: &s "
        + states
        + "\ntransitions:\n"
        + "".join(f"  - {{trigger: t{i}, source: *s, dest: s0}}\n" for i in range(3000))
    )
    r = Reader("bomb.yaml")
    assert r.compose(text) is None
    assert "expands (through aliases)" in str(r.problems[0])
    assert str(r.problems[0]).startswith("bomb.yaml:1:1:")


def test_token_scopes_narrow_the_role_and_last_use_is_recorded(app: Flask, svc: Crisis) -> None:
    """Item 15: a token for Alertmanager need not carry its user's whole role."""
    client = app.test_client()
    _, read = svc.accounts.create_token(actor=ADMIN, username="operator", name="dash", scope="read")
    _, hooks = svc.accounts.create_token(
        actor=ADMIN, username="robot", name="am", scope="monitoring"
    )
    _, metrics = svc.accounts.create_token(
        actor=ADMIN, username="viewer", name="prom", scope="metrics"
    )
    assert client.get("/api/v1/incidents", headers=bearer(read)).status_code == 200
    refused = declare(client, read)
    assert refused.status_code == 403 and refused.get_json()["details"]["scope"] == "read"
    assert client.get("/api/v1/incidents", headers=bearer(hooks)).status_code == 403
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "Nothing"}}]}
    assert client.post("/hooks/alertmanager", json=body, headers=bearer(hooks)).status_code == 200
    assert client.get("/metrics", headers=bearer(metrics)).status_code == 200
    assert client.get("/api/v1/incidents", headers=bearer(metrics)).status_code == 403
    used = {t["name"]: t["last_used_at"] for t in svc.accounts.list_tokens()}
    assert used["dash"] is not None and used["am"] is not None and used["prom"] is not None
    assert {t["name"]: t["scope"] for t in svc.accounts.list_tokens()}["am"] == "monitoring"
