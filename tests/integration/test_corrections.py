"""Corrections of published updates, approved like any update and recorded on the timeline:
Mastodon's post is edited in place (mastodon-mock keeps the edit history), Slack's message is
edited and marked, and X — which cannot edit — gets "Correction: …" as a reply in the
incident's thread; the thread itself is unchanged by an edit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from engine.app import Crisis
from engine.kernel.errors import ValidationFailed
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from engine.updates import threads
from notifiers.mastodon import MastodonNotifier
from notifiers.slack import SlackBotNotifier
from notifiers.x import XNotifier
from tests.conftest import COMMS, OPERATOR
from tests.fakes.http import serve
from tests.fakes.slack import TOKEN, FakeSlack
from tests.fakes.x import ACCESS, CONSUMER, FakeX
from tests.outbox import drain, outbox_worker

FIRST = "Trains between Lille and London leave from platform 5. Next update by 10:20 GMT."
FIXED = "Trains between Lille and London leave from platform 4, not 5."


@pytest.fixture
def mastodon() -> Iterator[Any]:
    from mastodon_mock.testing import MockServer

    s = MockServer().start()
    yield s
    s.stop()


def crisis_with(store: Store, catalog: Catalog, channel_map: dict[str, Channel], kind: str,
                clock: Any, **changes: Any) -> Crisis:  # fmt: skip
    channels = dict(channel_map)
    channels["twitter"] = replace(channels["twitter"], kind=kind, **changes)
    return Crisis(store=store, catalog=catalog, clock=clock, channels=channels)


def drafted(crisis: Crisis) -> dict[str, Any]:
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stopped",
        regions=["lille"],
    )  # fmt: skip
    return crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", body=FIRST
    )


def published(crisis: Crisis, send: Any) -> dict[str, Any]:
    u = drafted(crisis)
    crisis.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    send()
    return u


def correct(crisis: Crisis, update_id: int, send: Any) -> dict[str, Any]:
    c = crisis.updates.draft_correction(actor=OPERATOR, update_id=update_id, body=FIXED)
    assert c["status"] == "pending_approval" and c["corrects"] == update_id  # approved as usual
    crisis.updates.approve_update(actor=COMMS, update_id=c["id"], revision=1)
    send()
    return c


def test_a_mastodon_post_is_edited_in_place(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel], clock: Any, mastodon: Any
) -> None:
    crisis = crisis_with(store, catalog, channel_map, "mastodon", clock)

    def send() -> None:
        n = MastodonNotifier(base_url=mastodon.base_url, access_token="alice_token")
        drain(outbox_worker(crisis, notifiers={"twitter": n}))

    u = published(crisis, send)
    with store.engine.connect() as conn:
        before = threads.thread_of(conn, u["incident_id"])
    c = correct(crisis, u["id"], send)
    assert c["rendered"]["twitter"] == FIXED  # edited in place: the text itself
    assert c["rendered"]["sms"] == f"Correction: {FIXED}"  # elsewhere, a new message
    me = mastodon.client("alice").me()
    [status] = mastodon.client("bob").account_statuses(me["id"])
    assert status["content"] == f"<p>{FIXED}</p>" and status["edited_at"]
    history = mastodon.client("bob").status_history(status["id"])
    assert [h["content"] for h in history] == [f"<p>{FIRST}</p>", f"<p>{FIXED}</p>"]
    with store.engine.connect() as conn:
        assert threads.thread_of(conn, u["incident_id"]) == before  # an edit is not a post
    events = [e for e in crisis.incidents.timeline(incident_id=u["incident_id"])]
    drafted = [e for e in events if e.type == "drafted" and e.data.get("corrects") == u["id"]]
    assert len(drafted) == 1


def test_x_gets_the_correction_as_a_reply_in_the_thread(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel], clock: Any
) -> None:
    crisis = crisis_with(store, catalog, channel_map, "x", clock)
    fake = FakeX()
    with serve(fake.route) as url:

        def send() -> None:
            n = XNotifier(consumer_key=CONSUMER[0], consumer_secret=CONSUMER[1],
                          access_token=ACCESS[0], access_token_secret=ACCESS[1],
                          base_url=url, timeout=5)  # fmt: skip
            drain(outbox_worker(crisis, notifiers={"twitter": n}))

        u = published(crisis, send)
        correct(crisis, u["id"], send)
    [(first, a), (_, b)] = list(fake.posts.items())
    assert a["text"] == FIRST and b == {"text": f"Correction: {FIXED}", "reply_to": first}


def test_a_slack_message_is_edited_and_marked_corrected(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel], clock: Any
) -> None:
    # the stand-in knows one channel id: the twitter channel posts there, as a chat channel
    crisis = crisis_with(store, catalog, channel_map, "slack_bot", clock, medium="chat",
                         options={"channel": "C0INCIDENTS"})  # fmt: skip
    fake = FakeSlack()
    with serve(fake.route) as url:

        def send() -> None:
            n = SlackBotNotifier(token=TOKEN, base_url=f"{url}/api", timeout=5)
            drain(outbox_worker(crisis, notifiers={"twitter": n}))

        u = published(crisis, send)
        correct(crisis, u["id"], send)
    [message] = fake.messages
    assert message["text"] == FIXED and "_Corrected_" in json.dumps(message["blocks"])
    assert len(fake.edits) == 1


def test_only_a_published_update_can_be_corrected(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel], clock: Any
) -> None:
    crisis = crisis_with(store, catalog, channel_map, "sandbox", clock)
    u = drafted(crisis)
    with pytest.raises(ValidationFailed) as info:
        crisis.updates.draft_correction(actor=OPERATOR, update_id=u["id"], body=FIXED)
    assert "only a published one" in info.value.details["corrects"]


def test_the_api_drafts_a_correction_and_the_page_offers_one(
    app: Any, svc: Crisis, tokens: dict[str, str]
) -> None:
    from tests.integration.test_web import bearer, login

    client = app.test_client()
    u = drafted(svc)
    inc = svc.incidents.get(incident_id=u["incident_id"])
    early = client.post(f"/api/v1/updates/{u['id']}/corrections", json={"body": FIXED},
                        headers=bearer(tokens["operator"]))  # fmt: skip
    assert early.status_code == 422 and "corrects" in early.get_json()["details"]
    svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    login(client, "operator")
    page = client.get(f"/incidents/{inc.id}").get_data(as_text=True)
    assert "Correct this update…" in page
    made = client.post(f"/api/v1/updates/{u['id']}/corrections", json={"body": FIXED},
                       headers=bearer(tokens["operator"]))  # fmt: skip
    assert made.status_code == 201
    body = made.get_json()
    assert body["corrects"] == u["id"] and body["status"] == "pending_approval"
    assert body["rendered"]["sms"] == f"Correction: {FIXED}"
    viewer = client.post(f"/api/v1/updates/{u['id']}/corrections", json={"body": FIXED},
                         headers=bearer(tokens["viewer"]))  # fmt: skip
    assert viewer.status_code == 403
