"""Public reads when nothing changed cost no database round trip: a burst of readers shares
one read of what was published (a new entry shows within a second), a query string is the
same page (never a rebuild), and a logged-in reader's session is not looked at — no
``Vary: Cookie``, so shared caches and CDNs may keep the page."""

from __future__ import annotations

from flask import Flask

from engine.app import Crisis
from tests.integration.test_web import login
from web import create_app
from web.config import Config, Secret


def test_a_burst_of_readers_shares_one_read_and_one_build(svc: Crisis) -> None:
    app: Flask = create_app(
        Config(database_url="sqlite://", secret_key=Secret("t")), crisis=svc,
        test_config={"TESTING": True, "PUBLIC_VERSION_SECONDS": 60},
    )  # fmt: skip
    client = app.test_client()
    memo = app.extensions["crisis.public_version"]
    built: list[str] = []
    page = svc.public
    original = page.incidents

    def counted(**kw: object) -> object:
        built.append("x")
        return original(**kw)  # type: ignore[arg-type]

    page.incidents = counted  # type: ignore[method-assign]
    answers = [client.get(f"/status?v={i}") for i in range(50)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.headers["ETag"] for a in answers}) == 1  # one page, whatever the query
    assert memo.reads == 1 and len(built) == 1  # one version read, one build
    assert all("Cookie" not in a.headers.get("Vary", "") for a in answers)


def test_a_logged_in_reader_gets_the_shared_page(app: Flask) -> None:
    client = app.test_client()
    login(client, "operator")
    resp = client.get("/status")
    assert resp.status_code == 200 and "Cookie" not in resp.headers.get("Vary", "")
    assert resp.headers["Cache-Control"].startswith("public")
    inside = client.get("/incidents")  # pages that depend on who you are still vary
    assert "Cookie" in inside.headers.get("Vary", "")
