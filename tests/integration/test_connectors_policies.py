"""Every on_lift policy through the engine on every platform's stateful counterpart: under
`review` nothing comes back until a person decides, under `discard` nothing ever does (and
the platform's own cancel is used where it has one), under `resume` all comes back at its own
time. (mastodon-mock and the sandbox have their own round trips.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.store import Store
from notifiers.marketing.base import ConnectorNotifier
from tests.conftest import COMMS
from tests.connectors import crisis_with
from tests.integration.test_platform_contract import COUNTERPARTS, WHEN, Counterpart, find
from tests.outbox import drain, outbox_worker

CONFIG = {
    "sendgrid": "    credentials: {api_key: K}\n    tags: {promo: {category: [promo]}}\n",
    "klaviyo": "    credentials: {api_key: K}\n    tags: {promo: {tag: [promo]}}\n",
    "mailchimp": (
        "    credentials: {api_key: K}\n    options: {server: us1}\n"
        "    tags: {promo: {list: [promo-list]}}\n"
    ),
}


@pytest.fixture(params=sorted(CONFIG))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def counterpart(kind: str) -> Iterator[Counterpart]:
    yield from COUNTERPARTS[kind]()


@pytest.mark.parametrize("policy", ["review", "discard", "resume"])
def test_each_policy_on_each_platform(
    kind: str, counterpart: Counterpart, policy: str, store: Store, catalog: Catalog
) -> None:
    config = f"\nconnectors:\n  {kind}:\n    kind: {kind}\n    channel: newsletter\n" + CONFIG[kind]
    crisis: Crisis = crisis_with(config, store=store, catalog=catalog, clock=SystemClock())
    refs = [counterpart.schedule(f"Promo {i}", WHEN + timedelta(hours=i)) for i in range(2)]
    run = lambda: drain(  # noqa: E731
        outbox_worker(crisis, notifiers={kind: ConnectorNotifier(counterpart.platform)})
    )
    f = crisis.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="storm", on_lift=policy
    )

    def settled(waiting: tuple[str, ...]) -> None:  # a retry waits out its backoff (real time)
        for _ in range(40):
            run()
            states = {i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
            if states and not states & set(waiting):
                return
            time.sleep(0.5)

    settled(("pausing",))
    assert not {i.ref for i in counterpart.platform.scheduled()} & set(refs)
    crisis.calendar.lift_freeze(actor=COMMS, freeze_id=f["id"], reason="all clear")
    settled(("restoring", "discarding"))
    live = {i.ref: i for i in counterpart.platform.scheduled()}
    states = {i["ref"]: i["state"] for i in crisis.platforms.items(freeze_id=f["id"])}
    if policy == "resume":
        assert all(find(list(live.values()), r).send_at == WHEN + timedelta(hours=i)
                   for i, r in enumerate(refs))  # fmt: skip
        assert set(states.values()) == {"restored"}
    else:
        assert not set(live) & set(refs)  # nothing back by itself
        assert set(states.values()) == {"review" if policy == "review" else "discarded"}
