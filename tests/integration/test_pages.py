"""Every page × every role: the page-level authorization matrix, and the admin pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.roles import Perm, may
from tests.conftest import ADMIN
from tests.integration.test_web import bearer, csrf_of, login

PEOPLE = ("viewer", "operator", "comms", "marketer", "admin")
ROLE_OF = {
    "viewer": "viewer",
    "operator": "operator",
    "comms": "comms_lead",
    "marketer": "marketer",
    "admin": "admin",
    "robot": "automation",
}
PUBLIC = {"ui.login", "ui.logout", "static"}
IDS = {
    "incident_id": 1,
    "update_id": 1,
    "freeze_id": 1,
    "token_id": 1,
    "username": "viewer",
    "playbook_id": "rail-disruption",
}


# What each page needs, written out: a page whose @requires drifts from this fails here.
EXPECTED = {
    "ui.board": Perm.READ,
    "ui.declare": Perm.DECLARE,
    "ui.incident": Perm.READ,
    "ui.transition": Perm.TRANSITION,
    "ui.ack": Perm.READ,  # the service refuses those neither operators nor paged
    "ui.calendar_page": Perm.READ,
    "ui.calendar_new_post": Perm.MANAGE_POSTS,
    "ui.calendar_review": Perm.REVIEW_POSTS,
    "ui.platform_review": Perm.REVIEW_POSTS,
    "ui.lift": Perm.LIFT_FREEZE,
    "ui.sandbox_inbox": Perm.READ,
    "ui.approvals": Perm.READ,
    "ui.draft_update": Perm.DRAFT,
    "ui.confirm_update": Perm.DRAFT,
    "ui.edit_incident": Perm.TRANSITION,
    "ui.revise_update": Perm.DRAFT,
    "ui.correct_update": Perm.DRAFT,
    "ui.decide_update": Perm.READ,  # the service refuses those who may not approve
    "ui.oncall": Perm.READ,
    "ui.calendar_undo": Perm.REVIEW_POSTS,
    "ui.profile": Perm.READ,  # each person sets only their own zone
}


def test_every_page_declares_the_expected_permission(app: Flask) -> None:
    declared = {
        rule.endpoint: app.view_functions[rule.endpoint].required_perm
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("ui.", "admin.")) and rule.endpoint not in PUBLIC
    }
    admin = {e: p for e, p in declared.items() if e.startswith("admin.")}
    assert set(admin.values()) == {Perm.ADMIN} and len(admin) == 12
    assert {e: p for e, p in declared.items() if e.startswith("ui.")} == EXPECTED


def page_rules(app: Flask) -> list[tuple[str, str, Perm]]:
    """(method, path, permission) of every people-facing page and form."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or not rule.endpoint.startswith(("ui.", "admin.")):
            continue
        view = app.view_functions[rule.endpoint]
        perm = getattr(view, "required_perm", None)
        assert perm is not None, f"{rule.endpoint} has no @requires"
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(IDS[m.group(1)]), rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, path, perm))
    return out


@pytest.fixture
def seeded(app: Flask, svc: Crisis) -> Flask:
    """One incident, one update and one freeze, so that id 1 exists on every page."""
    from tests.conftest import OPERATOR

    svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="t", regions=["lille"]
    )
    svc.updates.draft_update(
        actor=OPERATOR, incident_id=1, audience="passengers", body="Next update by 10:00 GMT."
    )
    svc.accounts.create_token(actor=ADMIN, username="robot", name="first")
    assert svc.calendar.list_freezes(active=True)  # the rail playbook froze promos: freeze 1
    return app


def test_every_page_enforces_its_role(seeded: Flask, tokens: dict[str, str]) -> None:
    rules = page_rules(seeded)
    assert len(rules) >= 20
    for who in (*PEOPLE, "robot"):
        client = seeded.test_client()
        headers: dict[str, str] = {}
        csrf = ""
        if who == "robot":
            headers = bearer(tokens["robot"])
        else:
            login(client, who)
            csrf = csrf_of(client, "/")
        for method, path, perm in rules:
            resp = client.open(path, method=method, headers=headers, data={"csrf_token": csrf})
            allowed = may(ROLE_OF[who], perm)
            where = (who, method, path, resp.status_code)
            if allowed:
                assert resp.status_code != 403, where
                assert "/login" not in resp.headers.get("Location", ""), where
            else:
                assert resp.status_code == 403, where


def test_anonymous_visitors_are_sent_to_login_everywhere(seeded: Flask) -> None:
    client = seeded.test_client()
    csrf = csrf_of(client, "/login")  # a real visitor has the login form's token
    for method, path, _ in page_rules(seeded):
        resp = client.open(path, method=method, data={"csrf_token": csrf})
        assert resp.status_code == 302, (method, path, resp.status_code)
        assert "/login?next=" in resp.headers["Location"]


def admin_client(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    login(client, "admin")
    return client, csrf_of(client, "/admin/users")


def test_admin_adds_a_user_changes_the_role_and_deactivates(app: Flask, svc: Crisis) -> None:
    client, csrf = admin_client(app)
    bad = client.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "x y", "role": "boss", "password": "short"},
    )
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "use letters, digits" in page and "unknown role" in page and "at least 8" in page
    ok = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": "nina",
            "role": "operator",
            "password": "nina-password-1",
        },
    )
    assert ok.status_code == 303
    assert svc.accounts.find_user(username="nina").role == "operator"
    client.post(
        "/admin/users/nina", data={"csrf_token": csrf, "action": "role", "role": "comms_lead"}
    )
    assert svc.accounts.find_user(username="nina").role == "comms_lead"
    client.post("/admin/users/nina", data={"csrf_token": csrf, "action": "deactivate"})
    assert svc.accounts.find_user(username="nina").active is False
    assert svc.accounts.authenticate(username="nina", password="nina-password-1") is None
    self_demote = client.post(
        "/admin/users/admin", data={"csrf_token": csrf, "action": "role", "role": "viewer"}
    )
    assert (
        self_demote.status_code == 303 and svc.accounts.find_user(username="admin").role == "admin"
    )
    assert "cannot demote or deactivate yourself" in client.get("/admin/users").get_data(
        as_text=True
    )


def test_a_token_is_shown_once_stored_hashed_and_revocable(app: Flask, svc: Crisis) -> None:
    client, csrf = admin_client(app)
    resp = client.post(
        "/admin/tokens", data={"csrf_token": csrf, "username": "robot", "name": "alertmanager"}
    )
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    secret = re.search(r'<pre id="new-token">(cc_[\w-]+)</pre>', resp.get_data(as_text=True))
    assert secret
    token = secret.group(1)
    listing = client.get("/admin/tokens").get_data(as_text=True)
    assert token not in listing and "alertmanager" in listing  # never shown again
    with svc.store.engine.connect() as conn:
        import sqlalchemy as sa

        stored = conn.execute(sa.text("select token_hash from api_tokens")).scalars().all()
    assert token not in stored and len(stored[0]) == 64  # SHA-256 hex
    api = app.test_client()
    assert api.get("/api/v1/incidents", headers=bearer(token)).status_code == 200
    [row] = [t for t in svc.accounts.list_tokens() if t["name"] == "alertmanager"]
    client.post(f"/admin/tokens/{row['id']}/revoke", data={"csrf_token": csrf})
    assert api.get("/api/v1/incidents", headers=bearer(token)).status_code == 401


def test_playbooks_page_shows_validation_and_a_diagram(
    app: Flask,
    svc: Crisis,
    tmp_path: Any,
) -> None:
    client, csrf = admin_client(app)
    page = client.get("/admin/playbooks").get_data(as_text=True)
    assert page.count("valid · in force") == 4
    # Each file by its name (its whole path on hover), the folder once: a deep server path
    # made the page wider than a phone.
    assert '">rail-disruption.yaml</code>' in page and '<p class="muted">In <code>' in page
    one = client.get("/admin/playbooks/rail-disruption").get_data(as_text=True)
    assert "<svg" in one and ">investigating</text>" in one
    assert "resolve (comms_lead)" in one  # the guard is drawn on its arrow
    assert "stateDiagram-v2" in one and "declared --&gt; investigating: acknowledge" in one


def test_a_broken_playbook_is_refused_on_reload_and_the_last_good_stays(
    app: Flask,
    svc: Crisis,
    tmp_path: Any,
) -> None:
    import shutil

    from tests.conftest import PLAYBOOKS

    books = tmp_path / "books"
    shutil.copytree(PLAYBOOKS, books)
    catalog = svc.catalog
    catalog.paths = (books,)
    before = catalog.current("rail-disruption").version
    rail = books / "rail-disruption.yaml"
    rail.write_text(rail.read_text().replace("after: 10m", "after: 10 mins"))
    client, csrf = admin_client(app)
    page = client.get("/admin/playbooks").get_data(as_text=True)
    assert "invalid — 1 problem(s)" in page
    assert re.search(r"rail-disruption.yaml:\d+:\d+: escalation.steps\[1\].after", page)
    resp = client.post("/admin/playbooks/reload", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Refused: 1 problem(s)" in resp.get_data(as_text=True)
    assert catalog.current("rail-disruption").version == before
