"""Operational updates on Bluesky and X, one thread per incident, through the outbox: three
public updates of one incident posted by three workers in turn (as after restarts), each
replying to the one before under one root — read back from the reference PDS's repository,
and from the X stand-in, which refuses a reply to a post it does not hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from atproto import Client

from engine.app import Crisis
from engine.updates import threads
from notifiers.bluesky import BlueskyNotifier
from notifiers.x import XNotifier
from tests.conftest import COMMS, OPERATOR
from tests.fakes.http import serve
from tests.fakes.x import ACCESS, CONSUMER, FakeX
from tests.outbox import drain, outbox_worker
from tests.pds import Pds, pds

TEXTS = [
    "Trains between Lille and London are stopped. Next update by 10:20 GMT.",
    "Trains are moving again slowly; expect 60 min delays. Next update by 10:40 GMT.",
    "Services are back to normal. Next update only if anything changes.",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Pds]:
    with pds(tmp_path / "pds.log") as p:
        yield p


def publish(service: Crisis, incident_id: int, text: str) -> None:
    u = service.updates.draft_update(
        actor=OPERATOR, incident_id=incident_id, audience="passengers", body=text
    )
    service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=u["revision"])


def declare(service: Crisis) -> int:
    return service.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stopped",
        regions=["lille"],
    ).id  # fmt: skip


def test_three_updates_make_one_bluesky_thread(service: Crisis, server: Pds) -> None:
    incident = declare(service)
    for text in TEXTS:
        publish(service, incident, text)
        sky = BlueskyNotifier(handle=server.handle, app_password=server.password,
                              base_url=server.url)  # fmt: skip
        drain(outbox_worker(service, notifiers={"twitter": sky}))
        sky.close()
    reader = Client(base_url=server.url)
    reader.login(server.handle, server.password, fetch_bsky_profile=False)
    got = reader.com.atproto.repo.list_records(
        {"repo": server.did, "collection": "app.bsky.feed.post"}
    ).records
    reader.request.close()
    posts = sorted(got, key=lambda r: r.value.created_at)
    assert [p.value.text for p in posts] == TEXTS
    assert posts[0].value.reply is None
    assert [p.value.reply.parent.uri for p in posts[1:]] == [posts[0].uri, posts[1].uri]
    assert {p.value.reply.root.uri for p in posts[1:]} == {posts[0].uri}
    with service.store.engine.connect() as conn:
        (thread,) = threads.thread_of(conn, incident).values()
    assert thread == {"root": f"{posts[0].uri}|{posts[0].cid}",
                      "last": f"{posts[2].uri}|{posts[2].cid}", "posts": 3}  # fmt: skip


def test_three_updates_make_one_x_thread(service: Crisis) -> None:
    incident = declare(service)
    fake = FakeX()
    with serve(fake.route) as url:
        for text in TEXTS:
            publish(service, incident, text)
            x = XNotifier(consumer_key=CONSUMER[0], consumer_secret=CONSUMER[1],
                          access_token=ACCESS[0], access_token_secret=ACCESS[1],
                          base_url=url, timeout=5)  # fmt: skip
            drain(outbox_worker(service, notifiers={"twitter": x}))
    posts = list(fake.posts.items())
    assert [p["text"] for _, p in posts] == TEXTS
    assert [p["reply_to"] for _, p in posts] == [None, posts[0][0], posts[1][0]]
