"""Issue 16, small public things: the public's errors in the public page's look, and a feed
address that a browser shows as a page while feed readers get the feed."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from tests.conftest import ADMIN
from tests.integration.test_public import app, client, declare, publish
from tests.integration.test_web import login

__all__ = ["app", "client"]  # the fixtures this module uses
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
READER = "application/atom+xml,application/rss+xml;q=0.9,*/*;q=0.8"


def test_a_strangers_404_has_the_public_look_and_staff_keep_theirs(
    client: FlaskClient, app: Flask, service: Crisis
) -> None:
    for path in ("/no-such-page", "/status/incidents/999", "/status/nope"):
        r = client.get(path)
        page = r.get_data(as_text=True)
        assert r.status_code == 404 and "This page does not exist" in page, path
        assert "status.css" in page and "app.css" not in page and "Log in" not in page
        assert "See the current service status" in page
    api = client.get("/api/v1/nope")
    assert api.status_code == 404 and api.get_json()["error"] == "not_found"
    service.accounts.add_user(actor=ADMIN, username="olu", role="operator", password="olu-password")
    staff = app.test_client()
    login(staff, "olu")
    r = staff.get("/no-such-page")
    assert r.status_code == 404 and "app.css" in r.get_data(as_text=True)
    assert "Back to incidents" in r.get_data(as_text=True)


def test_the_feed_is_a_page_for_a_browser_and_the_feed_for_a_reader(
    client: FlaskClient, service: Crisis, clock: FakeClock
) -> None:
    iid = declare(service)
    publish(service, clock, iid, "Trains are stopped near Lille. Next update by 09:30 GMT.")
    for path, what in (("/status/feed.atom", "Updates feed"), ("/status/cap.atom", "CAP alerts")):
        seen = client.get(path, headers={"Accept": BROWSER})
        page = seen.get_data(as_text=True)
        assert seen.mimetype == "text/html" and "Accept" in seen.headers["Vary"], path
        assert what in page and f"http://127.0.0.1:8080{path}" in page
        assert "Trains are stopped near Lille" in page and "Trains stopped near Lille" in page
        for accept in (READER, "*/*", "application/atom+xml", None):
            feed = client.get(path, headers={"Accept": accept} if accept else {})
            assert feed.mimetype == "application/atom+xml", (path, accept)
            assert feed.data.startswith(b"<?xml") and "Accept" in feed.headers["Vary"]
    cap = client.get("/status/cap.atom", headers={"Accept": BROWSER}).get_data(as_text=True)
    assert "CAP alert</a>" in cap
