"""Approvals and declarations from Slack, through the real app and the loopback Slack that
checks Block Kit, chat.update, chat.postEphemeral and views.open (tests/fakes/slack.py).

Each waiting update gets an approval card in the approvals channel; its buttons act as the
crisiscomms user linked to the Slack member, with that user's role and the two-person rule;
whatever decides the update — a button, the web, expiry, resolution — edits the card so no
stale button stays. Every request is signed: tampered, replayed and too-old ones are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from engine.app import Crisis
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from notifiers.slack import SlackBotNotifier
from tests.conftest import ADMIN, OPERATOR
from tests.fakes.http import serve
from tests.fakes.slack import TOKEN, FakeSlack
from tests.outbox import drain, outbox_worker
from web import create_app
from web.config import Config, Secret

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CAM, CARA = Actor("cam", "comms_lead"), Actor("cara", "comms_lead")


@dataclass
class World:
    crisis: Crisis
    client: FlaskClient
    slack: FakeSlack
    url: str

    def send(self) -> None:
        bot = SlackBotNotifier(token=TOKEN, base_url=f"{self.url}/api", timeout=5)
        drain(outbox_worker(self.crisis, notifiers={"incidents": bot}))

    def card(self) -> dict[str, Any]:
        [message] = self.slack.messages
        return message

    def buttons(self) -> list[dict[str, Any]]:
        found = [b for b in self.card()["blocks"] if b["type"] == "actions"]
        return found[0]["elements"] if found else []


@pytest.fixture
def world(
    tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:  # fmt: skip
    fake = FakeSlack()
    with serve(fake.route) as url:
        channels = dict(channel_map)
        channels["incidents"] = Channel(
            "incidents", "slack_bot", "chat",
            credentials=MappingProxyType({"token": "SLACK_BOT", "signing_secret": "SLACK_SIGN"}),
            options=MappingProxyType({"channel": "C0INCIDENTS", "approvals": "true",
                                      "base_url": f"{url}/api"}),
        )  # fmt: skip
        monkeypatch.setenv("SLACK_BOT", TOKEN)
        monkeypatch.setenv("SLACK_SIGN", SECRET)
        store = Store.from_url(f"sqlite:///{tmp_path / 's.db'}")
        store.upgrade()
        crisis = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channels)
        for name, role, member in [("cam", "comms_lead", "U0CAM0001"), ("cara", "comms_lead",
                                   "U0CARA001"), ("vic", "viewer", "U0VIC0001"),
                                   ("olu", "operator", "U0OLU0001")]:  # fmt: skip
            crisis.accounts.add_user(
                actor=ADMIN, username=name, role=role, password=f"{name}-pw-long"
            )
            crisis.accounts.update_user(actor=ADMIN, username=name, slack_user=member)
        app = create_app(Config(database_url="sqlite://", secret_key=Secret("t")), crisis=crisis,
                         test_config={"TESTING": True})  # fmt: skip
        yield World(crisis, app.test_client(), fake, url)
        store.dispose()


def signed(
    w: World, path: str, form: dict[str, str], *, ts: int | None = None, secret: str = SECRET,
    tamper: bool = False,
) -> Any:  # fmt: skip
    body = urlencode(form)
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    if tamper:
        body = body.replace("U0CAM0001", "U0CARA001")
    return w.client.post(
        path, data=body, content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={mac}"},
    )  # fmt: skip


def click(w: World, member: str, action: str, value: str, **extra: Any) -> Any:
    payload = {"type": "block_actions", "user": {"id": member}, "channel": {"id": "C0INCIDENTS"},
               "trigger_id": "13345224609.738474920.8088930838d88f008e0",
               "actions": [{"action_id": action, "value": value}]} | extra  # fmt: skip
    w.slack.triggers.add(payload["trigger_id"])
    return signed(w, "/hooks/slack/interactions", {"payload": json.dumps(payload)})


def draft(w: World, *, by: Actor = OPERATOR) -> dict[str, Any]:
    inc = w.crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stopped",
        regions=["lille"],
    )  # fmt: skip
    return w.crisis.updates.draft_update(
        actor=by, incident_id=inc.id, audience="passengers",
        body="Trains between Lille and London are stopped. Next update by 10:20 GMT.",
    )  # fmt: skip


def test_a_waiting_update_gets_a_card_that_approving_from_slack_updates(world: World) -> None:
    u = draft(world)
    world.send()
    [approve, reject] = world.buttons()
    assert (approve["action_id"], approve["value"]) == ("crisis_approve", f"{u['id']}:1")
    assert approve["confirm"]["confirm"]["text"] == "Approve and send"
    assert "Trains between Lille and London" in json.dumps(world.card()["blocks"])
    assert click(world, "U0CAM0001", approve["action_id"], approve["value"]).status_code == 200
    got = world.crisis.updates.get_update(update_id=u["id"])
    assert got["status"] in ("sending", "sent") and got["approvals"][0]["by"] == "cam"
    world.send()  # the card is edited: no button left, who approved and when
    assert world.buttons() == [] and len(world.slack.edits) == 1
    assert "Approved by cam at" in json.dumps(world.card()["blocks"])
    assert world.slack.ephemeral == []


def test_the_two_person_rule_and_roles_apply_in_slack(world: World) -> None:
    u = draft(world, by=CAM)  # cam wrote it: cam may not approve it (two-person rule)
    world.send()
    value = f"{u['id']}:1"
    click(world, "U0CAM0001", "crisis_approve", value)
    click(world, "U0VIC0001", "crisis_approve", value)  # a viewer
    click(world, "U0NOBODY1", "crisis_approve", value)  # not linked to anyone
    texts = [e["text"] for e in world.slack.ephemeral]
    assert "two-person" in texts[0].lower() or "another" in texts[0].lower(), texts[0]
    assert texts[1].startswith(f"Update #{u['id']} was not approved")
    assert "not linked to a crisiscomms user" in texts[2] and "U0NOBODY1" in texts[2]
    assert [e["user"] for e in world.slack.ephemeral] == ["U0CAM0001", "U0VIC0001", "U0NOBODY1"]
    assert world.crisis.updates.get_update(update_id=u["id"])["status"] == "pending_approval"
    click(world, "U0CARA001", "crisis_approve", value)  # someone else: it goes out
    assert world.crisis.updates.get_update(update_id=u["id"])["approvals"][0]["by"] == "cara"


def test_a_revision_or_a_decision_elsewhere_leaves_no_stale_button(world: World) -> None:
    u = draft(world)
    world.send()
    body = "Trains are stopped. Next update by 10:40 GMT."
    world.crisis.updates.revise_update(actor=OPERATOR, update_id=u["id"], body=body)
    world.send()
    assert world.buttons()[0]["value"] == f"{u['id']}:2"  # the same message, new revision
    click(world, "U0CAM0001", "crisis_approve", f"{u['id']}:1")  # an old button
    assert "revision 2" in world.slack.ephemeral[0]["text"]
    world.crisis.updates.approve_update(actor=CARA, update_id=u["id"], revision=2)  # on the web
    world.send()
    assert world.buttons() == [] and "Approved by cara" in json.dumps(world.card()["blocks"])
    assert len(world.slack.messages) == 1  # edited, never posted twice


def test_rejecting_asks_why_in_a_dialog(world: World) -> None:
    u = draft(world)
    world.send()
    click(world, "U0CAM0001", "crisis_reject", f"{u['id']}:1")
    [view] = world.slack.views
    assert view["callback_id"] == "crisis_reject" and view["private_metadata"].startswith(
        f"{u['id']}:1:"
    )
    state: dict[str, Any] = {"values": {"reason": {"reason": {"value": "  "}}}}
    submission = {"type": "view_submission", "user": {"id": "U0CAM0001"},
                  "view": {"callback_id": "crisis_reject", "state": state,
                           "private_metadata": view["private_metadata"]}}  # fmt: skip
    empty = signed(world, "/hooks/slack/interactions", {"payload": json.dumps(submission)})
    assert empty.get_json()["response_action"] == "errors"
    state["values"]["reason"]["reason"]["value"] = "Wrong station name"
    assert signed(world, "/hooks/slack/interactions",
                  {"payload": json.dumps(submission)}).status_code == 200  # fmt: skip
    got = world.crisis.updates.get_update(update_id=u["id"])
    assert got["status"] == "rejected" and got["reject_reason"] == "Wrong station name"
    world.send()
    blocks = json.dumps(world.card()["blocks"])
    assert world.buttons() == [] and "Rejected by cam" in blocks and "Wrong station name" in blocks


def test_resolving_withdraws_the_draft_and_its_card_says_so(world: World) -> None:
    u = draft(world)
    world.send()
    world.crisis.incidents.acknowledge(actor=CAM, incident_id=u["incident_id"])
    world.crisis.incidents.fire(actor=CAM, incident_id=u["incident_id"], trigger="resolve")
    world.send()
    assert world.buttons() == [] and "Withdrawn" in json.dumps(world.card()["blocks"])


def test_unsigned_tampered_replayed_and_old_requests_are_refused(world: World) -> None:
    u = draft(world)
    world.send()
    payload = {"payload": json.dumps({"type": "block_actions", "user": {"id": "U0CAM0001"},
               "channel": {"id": "C0INCIDENTS"},
               "actions": [{"action_id": "crisis_approve", "value": f"{u['id']}:1"}]})}  # fmt: skip
    unsigned = world.client.post("/hooks/slack/interactions", data=payload)
    assert unsigned.status_code == 403
    assert signed(world, "/hooks/slack/interactions", payload, secret="wrong").status_code == 403
    assert signed(world, "/hooks/slack/interactions", payload, tamper=True).status_code == 403
    old = signed(world, "/hooks/slack/interactions", payload, ts=int(time.time()) - 301)
    assert old.status_code == 403 and "too old" in old.get_json()["message"]
    assert world.crisis.updates.get_update(update_id=u["id"])["status"] == "pending_approval"
    stamp = int(time.time())
    assert signed(world, "/hooks/slack/interactions", payload, ts=stamp).status_code == 200
    replay = signed(world, "/hooks/slack/interactions", payload, ts=stamp)
    assert replay.status_code == 403 and "replay" in replay.get_json()["message"]


def test_the_slash_command_declares_with_the_apis_checks(world: World) -> None:
    def command(member: str, text: str) -> dict[str, Any]:
        form = {"command": "/incident", "text": text, "user_id": member,
                "channel_id": "C0INCIDENTS"}  # fmt: skip
        resp = signed(world, "/hooks/slack/commands", form)
        assert resp.status_code == 200
        return dict(resp.get_json())

    ok = command("U0OLU0001", "declare rail-disruption SEV2 Lille Trains stopped north of <Lille>")
    assert ok["response_type"] == "in_channel" and "INC-1" in ok["text"]
    assert "&lt;Lille&gt;" in ok["text"]  # the title is text, never Slack markup
    [inc] = world.crisis.incidents.list_incidents().items
    assert (inc.severity, inc.regions, inc.title) == (
        "sev2",
        ("lille",),
        "Trains stopped north of <Lille>",
    )
    bad = command("U0OLU0001", "declare rail-disruption sev9 Lille Trains")
    assert bad["response_type"] == "ephemeral" and bad["text"].startswith("Not declared:")
    viewer = command("U0VIC0001", "declare rail-disruption sev2 Lille Trains")
    assert "may not declare" in viewer["text"] or "viewer" in viewer["text"]
    assert "not linked" in command("U0NOBODY1", "declare rail-disruption sev2 - Trains")["text"]
    assert command("U0OLU0001", "help")["text"].startswith("Usage: `/incident declare")
    assert world.crisis.incidents.list_incidents().total == 1


def test_the_card_shows_every_language_it_approves(world: World) -> None:
    """Issue 16: approving in Slack approves the French text too, so the card shows it."""
    inc = world.crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Trains stopped",
        regions=["lille"],
    )  # fmt: skip
    world.crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", template="holding"
    )
    world.send()
    sections = [b["text"]["text"] for b in world.card()["blocks"] if b["type"] == "section"]
    [french] = [s for s in sections if "Prochaine information" in s]
    assert french.startswith("*sms (fr), email (fr)*")
    assert any(s.startswith("*sms, email, twitter, status_page*") for s in sections)
