"""The Mastodon connector's round trip through the engine against mastodon-mock, a stateful
Mastodon: scheduled statuses leave the schedule when a freeze starts and come back under each
on_lift policy exactly as they should; one rescheduled during the freeze lands in review."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.playbooks.catalog import Catalog
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from notifiers.marketing.mastodon import MastodonPlatform
from tests.conftest import COMMS
from tests.connectors import crisis_with
from tests.outbox import drain, outbox_worker

CONFIG = """
connectors:
  mastodon:
    kind: mastodon
    channel: twitter
    options: {base_url: http://127.0.0.1}
    credentials: {access_token: MASTODON_TOKEN}
    tags: {promo: {hashtag: [sale, promo]}}
"""


class Clock:  # the engine's clock follows the wall clock: mastodon-mock schedules by it
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def server() -> Iterator[Any]:
    from mastodon_mock.testing import MockServer

    s = MockServer().start()
    yield s
    s.stop()


@pytest.fixture
def crisis(store: Store, catalog: Catalog) -> Crisis:
    return crisis_with(CONFIG, store=store, catalog=catalog, clock=Clock())


def scheduled(marketing: Any) -> dict[str, datetime]:
    out = {}
    for s in marketing.fetch_remaining(marketing.scheduled_statuses()):
        when = s["scheduled_at"]
        when = (
            datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else when
        )
        out[s["params"]["text"]] = when.replace(tzinfo=when.tzinfo or UTC).replace(microsecond=0)
    return out


@pytest.mark.parametrize("policy", ["resume", "review", "discard"])
def test_freeze_and_lift_round_trip_on_mastodon(crisis: Crisis, server: Any, policy: str) -> None:
    marketing = server.client("alice")
    platform = MastodonPlatform(base_url=server.base_url, access_token="alice_token")
    now = datetime.now(UTC).replace(microsecond=0)
    at = {
        "Winter #sale on every route": now + timedelta(hours=6),
        "Two for one #promo in Lille": now + timedelta(hours=8),
        "Lille timetable from Sunday": now + timedelta(hours=7),
        "Cheap seats #sale, moved later": now + timedelta(hours=9),
    }
    ids = {text: marketing.status_post(text, scheduled_at=when)["id"] for text, when in at.items()}
    run = lambda: drain(outbox_worker(crisis, notifiers={"mastodon": ConnectorNotifier(platform)}))  # noqa: E731
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift=policy
    )
    run()
    live = scheduled(marketing)
    near = {t for t, w in live.items() if w < now + timedelta(days=30)}
    assert near == {"Lille timetable from Sunday"}  # the three promos left the window
    # Marketing moves one back into the schedule during the freeze, in its own tool.
    marketing.scheduled_status_update(
        ids["Cheap seats #sale, moved later"], now + timedelta(hours=10)
    )
    from engine.calendar import external

    with crisis.store.transaction() as conn:  # the next rescan, now
        external.job(conn, "mastodon", "scan", freeze_id=f["id"], key="test-rescan",
                     now=crisis.clock.now(), meta={"scan": 9})  # fmt: skip
    run()
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    run()
    live = scheduled(marketing)
    states = {i["title"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    moved = "Cheap seats #sale, moved later"
    assert states[moved] == "review" if policy != "discard" else states[moved] == "discarded"
    if policy == "resume":
        assert live["Winter #sale on every route"] == at["Winter #sale on every route"]
        assert live["Two for one #promo in Lille"] == at["Two for one #promo in Lille"]
        assert states["Winter #sale on every route"] == "restored"
    elif policy == "review":
        assert all(live[t] > now + timedelta(days=30) for t in at if "#" in t)  # nothing back
        assert set(states.values()) == {"review"}
    else:
        assert set(live) == {"Lille timetable from Sunday"}  # the promos are deleted
        assert set(states.values()) == {"discarded"}
    assert live["Lille timetable from Sunday"] == at["Lille timetable from Sunday"]
