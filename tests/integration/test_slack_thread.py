"""Operational updates in Slack, one thread per incident: three updates to the engineering
audience (no approval) posted by the bot with Block Kit, the first starting a thread and the
others replying in it; an update's text is escaped, never markup."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from notifiers.slack import SlackBotNotifier
from tests.conftest import OPERATOR
from tests.fakes.http import serve
from tests.fakes.slack import TOKEN, FakeSlack
from tests.outbox import drain, outbox_worker


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serve(fake.route) as url:
        yield fake, url


def test_three_updates_thread_in_slack_with_blocks(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel],
    slack: tuple[FakeSlack, str],
) -> None:  # fmt: skip
    fake, url = slack
    channels = dict(channel_map)
    channels["slack"] = replace(
        channels["slack"], kind="slack_bot", medium="chat", options={"channel": "C0INCIDENTS"}
    )
    crisis = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="payments-outage", severity="sev1", title="Card payments down",
    )  # fmt: skip
    notifier = SlackBotNotifier(
        token=TOKEN, public_url="https://ops.example.org", base_url=f"{url}/api"
    )
    texts = [
        "Card payments fail for 40% of <users> & merchants.",
        "Failover started.",
        "Recovered.",
    ]
    for text in texts:
        crisis.updates.draft_update(actor=OPERATOR, incident_id=inc.id, audience="engineering",
                                    body=text)  # fmt: skip
        drain(outbox_worker(crisis, notifiers={"slack": notifier}))
    first, second, third = fake.messages
    assert [m["text"] for m in fake.messages] == texts
    assert "thread_ts" not in first or first["thread_ts"] is None
    assert second["thread_ts"] == third["thread_ts"] == first["ts"]
    header, section, context = first["blocks"]
    assert header["text"]["text"] == f"INC-{inc.id} Card payments down"
    assert section["text"]["text"] == "Card payments fail for 40% of &lt;users&gt; &amp; merchants."
    line = context["elements"][0]["text"]
    assert (
        "*SEV1*" in line
        and f"<https://ops.example.org/incidents/{inc.id}|Open INC-{inc.id}>" in line
    )
