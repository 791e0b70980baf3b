"""Issue 16, "times are UTC everywhere": each person reads times in their own zone (profile,
else browser), with UTC on hover; times typed into a form are read in that zone; who is on
call now and next is a page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask

from engine.app import Crisis
from engine.kernel.models import Actor
from engine.paging.rosterdb import parse_roster
from tests.conftest import ADMIN, OPERATOR
from tests.integration.test_acting import text
from tests.integration.test_web import csrf_of, login

# The FakeClock starts at 2026-11-23 09:00 UTC: 10:00 in Paris, 04:00 in New York.


def as_actor(svc: Crisis, username: str) -> Actor:
    return svc.accounts.find_user(username=username).as_actor()


def declared(svc: Crisis) -> int:
    return svc.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev2",
        title="Lille",
        regions=["lille"],
    ).id


def test_a_person_sets_their_zone_and_every_time_says_it_with_utc_on_hover(
    app: Flask, svc: Crisis
) -> None:
    iid = declared(svc)
    client = app.test_client()
    login(client, "operator")
    saved = client.post(
        "/me", data={"csrf_token": csrf_of(client, "/me"), "timezone": "Europe/Paris"}
    )
    assert saved.status_code == 303
    assert svc.accounts.find_user(username="operator").timezone == "Europe/Paris"
    page = client.get(f"/incidents/{iid}").get_data(as_text=True)
    declared_at = re.search(
        r'<time datetime="2026-11-23T09:00:00Z" title="([^"]+)">([^<]+)</time>', page
    )
    assert declared_at, page
    assert declared_at.groups() == ("2026-11-23 09:00 UTC", "10:00:00 CET")
    assert "Z</time>" not in page and "09:00:00Z" not in text(client, f"/incidents/{iid}")
    assert 'data-tz="Europe/Paris"' in page  # the live timeline formats new events the same way


def test_follow_my_browser_uses_the_zone_the_browser_reports_and_ignores_nonsense(
    app: Flask, svc: Crisis
) -> None:
    iid = declared(svc)
    client = app.test_client()
    login(client, "operator")
    assert svc.accounts.find_user(username="operator").timezone == ""  # never chosen
    client.set_cookie("tz", "America/New_York")
    assert "04:00:00 EST" in text(client, f"/incidents/{iid}")
    for nonsense in ("../../etc/passwd", "Mars/Olympus", "x" * 200):
        client.set_cookie("tz", nonsense)
        assert "09:00:00 UTC" in text(client, f"/incidents/{iid}")
    # A chosen zone wins over the browser's.
    svc.accounts.set_time_zone(actor=as_actor(svc, "operator"), timezone="Asia/Tokyo")
    client.set_cookie("tz", "America/New_York")
    assert "18:00:00 JST" in text(client, f"/incidents/{iid}")


def test_an_unknown_zone_is_refused_and_the_old_one_stays(app: Flask, svc: Crisis) -> None:
    svc.accounts.set_time_zone(actor=as_actor(svc, "operator"), timezone="Europe/London")
    client = app.test_client()
    login(client, "operator")
    r = client.post("/me", data={"csrf_token": csrf_of(client, "/me"), "timezone": "Mars/Base"})
    assert r.status_code == 303
    page = text(client, "/me")
    assert "Not saved: timezone: unknown time zone 'Mars/Base'" in page
    assert svc.accounts.find_user(username="operator").timezone == "Europe/London"
    assert "Now: Europe/London" in page


def test_a_time_typed_in_the_calendar_is_read_in_the_persons_zone(app: Flask, svc: Crisis) -> None:
    svc.accounts.set_time_zone(actor=as_actor(svc, "admin"), timezone="Europe/Paris")
    client = app.test_client()
    login(client, "admin")
    page = text(client, "/calendar")
    assert "Times are in Europe/Paris" in page and "Publish at (Europe/Paris)" in page
    client.post("/calendar/posts", data={
        "csrf_token": csrf_of(client, "/calendar"), "channel": "twitter", "body": "Mince pies",
        "publish_at": "2026-12-20T10:00", "tags": "promo",
    })  # fmt: skip
    [post] = svc.calendar.list_posts(state="scheduled")[0]
    assert post["publish_at"] == datetime(2026, 12, 20, 9, 0, tzinfo=UTC)  # 10:00 CET
    page = text(client, "/calendar")
    assert "Scheduled post 1 for 2026-12-20 10:00 CET." in page
    assert "Sun 20 Dec 10:00 CET" in page


ROTA = """\
people:
  dana: {name: Dana Duty, phone: "+15555550105", email: dana@example.org}
  olu:  {name: Olu Other, phone: "+15555550111", email: olu@example.org}
  ed:   {name: Ed Director, phone: "+15555550106", email: ed@example.org}
roles:
  duty-manager:
    members: [dana, olu]
    rotation: {every: week, handoff: "mon 09:00", timezone: Europe/London, starting: 2026-01-05}
  ops-director: {members: [ed]}
"""


def test_the_on_call_page_says_who_holds_each_role_now_and_who_takes_over_when(
    app: Flask, svc: Crisis
) -> None:
    svc.roster.load_roster(actor=ADMIN, seed=parse_roster(ROTA, file="roster.yaml"))
    client = app.test_client()
    login(client, "viewer")
    svc.accounts.set_time_zone(actor=as_actor(svc, "viewer"), timezone="Europe/London")
    # Monday 23 November 09:00 is a hand-off: 46 weeks after the first, so dana (the first
    # member) has just taken it; olu takes over a week later.
    page = text(client, "/oncall")
    row = page[page.index("duty manager") : page.index("ops director")]
    assert "duty manager Dana Duty Olu Other from Mon 30 Nov 09:00 GMT" in row
    assert "rotation: weekly, mon 09:00 Europe/London" in row
    # An override changes who is next: Ed covers the duty from 18:00 for three hours.
    nine = svc.clock.now() + timedelta(hours=9)
    svc.roster.roster_override(
        actor=ADMIN, role="duty-manager", username="ed", starts_at=nine,
        ends_at=nine + timedelta(hours=3),
    )  # fmt: skip
    row = text(client, "/oncall")
    row = row[row.index("duty manager") : row.index("ops director")]
    assert "duty manager Dana Duty Ed Director from Mon 23 Nov 18:00 GMT" in row
    assert "ops director Ed Director —" in text(client, "/oncall")
