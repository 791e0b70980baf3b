"""Issue 17, embeds: an SVG status badge for the page and for each component, and the banner
script, with the caching and CORS a company's own site needs to use them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from tests.integration.test_public import app, client, declare, publish
from web.badges import badge, text_width

__all__ = ["app", "client"]  # the fixtures this module uses
SVG = "{http://www.w3.org/2000/svg}"


def said(client: FlaskClient, path: str) -> str:
    resp = client.get(path)
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml", path
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cache-Control"].startswith("public, max-age=")
    root = ET.fromstring(resp.data)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == root.get("aria-label")
    return str(root.get("aria-label"))


def test_badges_say_the_page_and_each_component_status(
    client: FlaskClient, service: Crisis, clock: FakeClock
) -> None:
    assert said(client, "/status/badge.svg") == "status: operational"
    assert said(client, "/status/badge/lille.svg") == "Lille: operational"
    iid = declare(service, severity="sev2")
    publish(service, clock, iid, "Trains are held near Lille. Next update by 10:00 GMT.")
    assert said(client, "/status/badge.svg") == "status: partial disruption"
    assert said(client, "/status/badge/lille.svg") == "Lille: partial outage"
    assert said(client, "/status/badge/calais.svg") == "Calais: operational"
    # A reader that has it already gets a 304 until the page changes.
    etag = client.get("/status/badge/lille.svg").headers["ETag"]
    assert client.get("/status/badge/lille.svg", headers={"If-None-Match": etag}).status_code == 304


def test_an_unknown_component_is_a_404_in_the_public_look(client: FlaskClient) -> None:
    resp = client.get("/status/badge/<nope>.svg")
    assert resp.status_code == 404 and b"This page does not exist" in resp.data


def test_a_badge_escapes_its_words_and_fits_them() -> None:
    svg = badge('A & <B> "C"', "major_outage")
    root = ET.fromstring(svg)
    assert root.get("aria-label") == 'A & <B> "C": major outage'
    assert "<B>" not in svg
    assert int(str(root.get("width"))) == round(text_width('A & <B> "C"') + 12) + round(
        text_width("major outage") + 12
    )
    assert text_width("mmm") > text_width("iii")


def test_the_banner_script_is_served_for_other_sites(client: FlaskClient) -> None:
    resp = client.get("/status/embed.js")
    assert resp.status_code == 200 and resp.mimetype == "text/javascript"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    text = resp.get_data(as_text=True)
    assert "/api/v2/summary.json" in text and "innerHTML" not in text
    summary = client.get("/api/v2/summary.json", headers={"Origin": "https://www.example.com"})
    assert summary.headers["Access-Control-Allow-Origin"] == "*"
