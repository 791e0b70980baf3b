"""A revoked token surfaces on the incident page: the provider's refusal is kept with the
delivery (a neutral "credentials" kind, from each adapter's own codes), the page names the
channel, what the provider said, how many messages wait and the variables to fix — and the
warning goes once the channel delivers again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType

import pytest

from engine.app import Crisis
from engine.kernel.errors import SendFailed
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from notifiers.marketing.base import http_failure
from notifiers.x import XNotifier
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.fakes.http import serve
from tests.fakes.x import ACCESS, CONSUMER, FakeX
from tests.outbox import drain, outbox_worker
from web import create_app
from web.config import Config, Secret


def x(url: str, secret: str) -> XNotifier:
    return XNotifier(consumer_key=CONSUMER[0], consumer_secret=secret, access_token=ACCESS[0],
                     access_token_secret=ACCESS[1], base_url=url, timeout=5)  # fmt: skip


def test_a_revoked_x_token_is_shown_until_the_channel_delivers_again(
    store: Store, catalog: Catalog, channel_map: dict[str, Channel]
) -> None:
    channels = dict(channel_map)
    names = {
        "consumer_key": "X_API_KEY",
        "consumer_secret": "X_API_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_SECRET",
    }
    channels["twitter"] = replace(
        channels["twitter"], kind="x", credentials=MappingProxyType(names)
    )
    clock = FakeClock()
    crisis = Crisis(store=store, catalog=catalog, clock=clock, channels=channels)
    crisis.accounts.add_user(actor=ADMIN, username="vic", role="viewer", password="vic-password")
    inc = crisis.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Trains stopped",
        regions=["lille"],
    )  # fmt: skip
    u = crisis.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers",
        body="Trains between Lille and London are stopped. Next update by 10:20 GMT.",
    )  # fmt: skip
    crisis.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    fake = FakeX()
    with serve(fake.route) as url:
        drain(outbox_worker(crisis, notifiers={"twitter": x(url, "revoked-secret")}))
        [problem] = crisis.delivery.credential_problems(incident_id=inc.id)
        assert problem["channel"] == "twitter" and problem["waiting"] == 1
        assert "X answered 401 token rejected" in problem["error"]

        from tests.integration.test_web import login

        app = create_app(Config(database_url="sqlite://", secret_key=Secret("t")), crisis=crisis,
                         test_config={"TESTING": True})  # fmt: skip
        client = app.test_client()
        login(client, "vic")
        page = client.get(f"/incidents/{inc.id}").get_data(as_text=True)
        assert "twitter cannot send: its credentials were refused" in page
        assert "<code>X_ACCESS_SECRET</code>, <code>X_ACCESS_TOKEN</code>" in page
        assert "revoked-secret" not in page
        clock.advance(timedelta(hours=1))  # past the retry's backoff; the token has been fixed
        drain(outbox_worker(crisis, notifiers={"twitter": x(url, CONSUMER[1])}))
        assert len(fake.posts) == 1
        assert crisis.delivery.credential_problems(incident_id=inc.id) == []
        assert "credentials were refused" not in client.get(f"/incidents/{inc.id}").get_data(
            as_text=True
        )


@pytest.mark.parametrize(("status", "credentials"), [(401, True), (403, True), (429, False),
                                                     (500, False), (404, False)])  # fmt: skip
def test_http_answers_that_mean_credentials(status: int, credentials: bool) -> None:
    failure: SendFailed = http_failure("X", status)
    assert failure.credentials is credentials
