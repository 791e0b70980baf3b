"""Issue 16, "the marketer cannot see what the freeze will catch": during a freeze the
calendar marks the posts it will hold, scheduling into it warns, and deciding on a whole review
queue asks once and can be taken back for a short while."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.models import Actor
from tests.conftest import ADMIN, OPERATOR
from tests.integration.test_acting import text
from tests.integration.test_web import bearer, csrf_of, login

M = timedelta(minutes=1)
MARKETING = Actor("marketer", "marketer")


def post(svc: Crisis, body: str, minutes: int, tags: str = "promo", regions: str = "") -> int:
    return int(
        svc.calendar.create_post(
            actor=MARKETING,
            fields={
                "channel": "twitter", "body": body, "tags": tags, "regions": regions,
                "publish_at": svc.clock.now() + minutes * M,
            },
        )["id"]
    )  # fmt: skip


def review_queue(svc: Crisis) -> list[int]:
    """Three promos held by a freeze, then lifted: they wait in the review queue."""
    ids = [post(svc, f"Winter sale {i}", 5 + i) for i in range(3)]
    fz = svc.calendar.create_freeze(actor=ADMIN, scope=Scope(tags=("promo",)), reason="storm")
    svc.clock.advance(10 * M)
    assert svc.calendar.publish_due() == 3
    svc.calendar.lift_freeze(actor=ADMIN, freeze_id=fz["id"], reason="storm over")
    queue, _ = svc.calendar.list_posts(state="held", review=True)
    assert sorted(p["id"] for p in queue) == ids
    return ids


def bulk(client: FlaskClient, action: str, ids: list[int], **more: str) -> object:
    return client.post("/calendar/review", data={
        "csrf_token": csrf_of(client, "/calendar"), "bulk": "1", "action": action,
        "post_id": [str(i) for i in ids], **more,
    })  # fmt: skip


def decided(client: FlaskClient, action: str, ids: list[int]) -> tuple[str, str]:
    """Decide in bulk (confirmed): the calendar address it lands on, and its undo token."""
    landing = str(bulk(client, action, ids, confirmed="1").headers["Location"])  # type: ignore[attr-defined]
    token = re.search(r'name="token" value="([^"]+)"', client.get(landing).get_data(as_text=True))
    assert token, landing
    return landing, token.group(1)


def take_back(client: FlaskClient, token: str) -> str:
    """Press Undo; the calendar's text afterwards."""
    client.post("/calendar/undo", data={"csrf_token": csrf_of(client, "/calendar"), "token": token})
    return text(client, "/calendar")


def states(svc: Crisis, ids: list[int]) -> list[tuple[str, bool]]:
    return [(p["state"], p["review"]) for p in (svc.calendar.get_post(post_id=i) for i in ids)]


def test_the_calendar_marks_what_an_active_freeze_will_hold_and_scheduling_into_it_warns(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    before = post(svc, "Mince pies in Lille", 120, regions="lille")
    works = post(svc, "Engineering works on Sunday", 130, tags="operational", regions="lille")
    paris = post(svc, "Paris by night", 140, regions="paris")
    inc = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Lille signalling",
        regions=["lille"],
    )  # fmt: skip
    [fz] = svc.calendar.list_freezes(active=True)
    client = app.test_client()
    login(client, "marketer")
    page = client.get("/calendar").get_data(as_text=True)
    bodies = {before: "Mince pies in Lille", works: "Engineering works", paris: "Paris by night"}
    rows = {i: page[page.index(b) : page.index("</tr>", page.index(b))] for i, b in bodies.items()}
    assert f"will be held · freeze {fz['id']}" in rows[before]
    assert f"INC-{inc.id}" in rows[before]
    assert "will be held" not in rows[works]  # operational posts are never held
    assert "will be held" not in rows[paris]  # another region
    # Scheduling into the freeze: the post is taken, with a warning that says by what.
    client.post("/calendar/posts", data={
        "csrf_token": csrf_of(client, "/calendar"), "channel": "twitter",
        "body": "Lille Christmas market", "publish_at": "2026-11-23T12:00", "tags": "promo",
        "regions": "Lille",
    })  # fmt: skip
    shown = text(client, "/calendar")
    assert f"❄ Promo freeze {fz['id']} is active (INC-{inc.id} (Train service disruption)" in shown
    assert "It will hold this post when its time comes, unless the freeze is lifted first" in shown
    # The API says the same on the post it returns.
    r = client.post("/api/v1/posts", headers=bearer(tokens["marketer"]), json={
        "channel": "twitter", "body": "More Lille", "publish_at": "2026-11-23T13:00:00Z",
        "tags": ["promo"], "regions": ["lille"],
    })  # fmt: skip
    assert r.status_code == 201 and r.get_json()["would_be_held_by"] == [fz["id"]]
    r = client.post("/api/v1/posts", headers=bearer(tokens["marketer"]), json={
        "channel": "twitter", "body": "Paris", "publish_at": "2026-11-23T13:00:00Z",
        "tags": ["promo"], "regions": ["paris"],
    })  # fmt: skip
    assert r.get_json()["would_be_held_by"] == []


def test_publishing_a_whole_review_queue_asks_once_and_can_be_undone_for_a_minute(
    app: Flask, svc: Crisis
) -> None:
    ids = review_queue(svc)
    client = app.test_client()
    login(client, "comms")
    asked = bulk(client, "publish", ids)
    assert asked.status_code == 200  # type: ignore[attr-defined]
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", asked.get_data(as_text=True)))  # type: ignore[attr-defined]
    assert "Publish 3 post(s)?" in page and "Winter sale 0" in page and "60 seconds" in page
    assert states(svc, ids) == [("held", True)] * 3  # asking changed nothing
    landing, token = decided(client, "publish", ids)
    assert "undo=" in landing
    assert states(svc, ids) == [("scheduled", False)] * 3
    page = text(client, landing)
    assert "3 post(s) will publish at 09:11:00 UTC" in page and "Undo" in page
    assert svc.calendar.publish_due() == 0  # not yet: the minute is the undo window
    assert "Undone: 3 post(s) back in the review queue." in take_back(client, token)
    assert states(svc, ids) == [("held", True)] * 3
    # Again, and this time let the minute pass: they publish, and undo is refused.
    landing, token = decided(client, "publish", ids)
    svc.clock.advance(M)
    assert svc.calendar.publish_due() == 3
    assert "will publish at" not in text(client, landing)  # the offer is gone from the page
    assert "Too late to undo" in take_back(client, token)
    assert [s for s, _ in states(svc, ids)] == ["published"] * 3


def test_cancelling_in_bulk_can_be_undone_for_ten_minutes_but_not_over_a_later_decision(
    app: Flask, svc: Crisis
) -> None:
    ids = review_queue(svc)
    client = app.test_client()
    login(client, "comms")
    landing, token = decided(client, "cancel", ids)
    assert states(svc, ids) == [("cancelled", False)] * 3
    assert "Cancelled 3 post(s)." in text(client, landing)
    # A forged or altered offer does nothing.
    forged = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    assert "Too late to undo" in take_back(client, forged)
    assert states(svc, ids) == [("cancelled", False)] * 3
    svc.clock.advance(9 * M)
    take_back(client, token)
    assert states(svc, ids) == [("held", True)] * 3
    # Ten minutes is the limit.
    _, token = decided(client, "cancel", ids[:1])
    svc.clock.advance(10 * M)
    assert "Too late to undo" in take_back(client, token)
    assert states(svc, ids[:1]) == [("cancelled", False)]


def test_undo_leaves_alone_a_post_someone_has_decided_on_since(app: Flask, svc: Crisis) -> None:
    ids = review_queue(svc)
    client = app.test_client()
    login(client, "comms")
    _, token = decided(client, "publish", ids)
    svc.clock.advance(timedelta(seconds=20))
    later = svc.clock.now() + timedelta(hours=3)
    svc.calendar.review_post(actor=ADMIN, post_id=ids[0], action="reschedule", publish_at=later)
    page = take_back(client, token)
    assert "Undone: 2 post(s) back in the review queue; 1 had changed since" in page
    assert states(svc, ids) == [("scheduled", False), ("held", True), ("held", True)]
    assert svc.calendar.get_post(post_id=ids[0])["publish_at"] == later


def test_bulk_decisions_need_the_review_permission_and_name_what_they_could_not_do(
    app: Flask, svc: Crisis
) -> None:
    ids = review_queue(svc)
    client = app.test_client()
    login(client, "viewer")
    assert bulk(client, "publish", ids, confirmed="1").status_code == 403  # type: ignore[attr-defined]
    svc.calendar.review_post(actor=ADMIN, post_id=ids[0], action="cancel")
    client = app.test_client()
    login(client, "comms")
    bulk(client, "publish", ids, confirmed="1")
    page = text(client, "/calendar")
    assert f"post {ids[0]} not changed: it is cancelled" in page
    assert states(svc, ids[1:]) == [("scheduled", False)] * 2
