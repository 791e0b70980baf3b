"""Operational updates on Mastodon, one thread per incident: three public updates of one
incident built in mastodon-mock and read back, each replying to the one before; the thread
survives a restart (the ids are in the database, not in a process)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.app import Crisis
from engine.updates import threads
from notifiers.mastodon import MastodonNotifier
from tests.conftest import COMMS, OPERATOR
from tests.outbox import drain, outbox_worker


@pytest.fixture
def server() -> Iterator[Any]:
    from mastodon_mock.testing import MockServer

    s = MockServer().start()
    yield s
    s.stop()


def publish(crisis: Crisis, incident_id: int, body: str) -> None:
    u = crisis.updates.draft_update(
        actor=OPERATOR, incident_id=incident_id, audience="passengers", body=body
    )
    crisis.updates.approve_update(actor=COMMS, update_id=u["id"], revision=u["revision"])


def test_three_updates_make_one_thread_that_survives_a_restart(
    service: Crisis, server: Any
) -> None:
    inc = service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stopped",
        regions=["lille"],
    )  # fmt: skip
    texts = [
        "Trains between Lille and London are stopped. Next update by 10:20 GMT.",
        "Trains are moving again slowly; expect 60 min delays. Next update by 10:40 GMT.",
        "Services are back to normal. Next update only if anything changes.",
    ]
    for text in texts:
        publish(service, inc.id, text)
        # each update in its own worker, as after a restart: the thread comes from the store
        notifier = MastodonNotifier(base_url=server.base_url, access_token="alice_token")
        drain(outbox_worker(service, notifiers={"twitter": notifier}))
    reader = server.client("bob")
    me = server.client("alice").me()
    posted = sorted(reader.account_statuses(me["id"]), key=lambda s: s["id"])
    assert [p["content"] for p in posted] == [f"<p>{t}</p>" for t in texts]
    assert posted[0]["in_reply_to_id"] is None
    assert posted[1]["in_reply_to_id"] == posted[0]["id"]
    assert posted[2]["in_reply_to_id"] == posted[1]["id"]
    assert all(p["visibility"] == "public" and not p["spoiler_text"] for p in posted)
    with service.store.engine.connect() as conn:
        (thread,) = threads.thread_of(conn, inc.id).values()
    assert thread == {"root": str(posted[0]["id"]), "last": str(posted[2]["id"]), "posts": 3}
