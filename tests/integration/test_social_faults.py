"""The faults every social and chat provider can answer, as the outbox needs them: a server
error and a timeout are retried (transient), like Twilio's; 401 is retried and marked as a
credentials problem (shown on the incident page); each against its loopback stand-in, and a
port that accepts connections and never answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.kernel.errors import SendFailed
from engine.kernel.ports import Notifier, OutboundMessage
from notifiers.slack import SlackBotNotifier
from notifiers.teams import TeamsNotifier
from notifiers.x import XNotifier
from tests.fakes import slack, teams, x
from tests.fakes.http import serve, silent

Build = Callable[[str, float], Notifier]
BUILDERS: dict[str, tuple[Build, Callable[[], Any], str]] = {
    "x": (
        lambda url, t: XNotifier(
            consumer_key=x.CONSUMER[0],
            consumer_secret=x.CONSUMER[1],
            access_token=x.ACCESS[0],
            access_token_secret=x.ACCESS[1],
            base_url=url,
            timeout=t,
        ),  # fmt: skip
        x.FakeX,
        "",
    ),
    "teams": (lambda url, t: TeamsNotifier(url=teams.url(url), timeout=t), teams.FakeTeams, ""),
    "slack_bot": (
        lambda url, t: SlackBotNotifier(token=slack.TOKEN, base_url=f"{url}/api", timeout=int(t)),
        slack.FakeSlack,
        "C0INCIDENTS",
    ),
}


def msg(address: str) -> OutboundMessage:
    return OutboundMessage(delivery_id=3, kind="update", channel="c", medium="social",
                           address=address or "@brand", body="Trains are stopped.",
                           meta={"incident_id": 7})  # fmt: skip


def fail(fake: Any, status: int) -> None:
    if isinstance(fake, slack.FakeSlack):
        fake.fail_next(status, error="internal_error" if status >= 500 else "")
    else:
        fake.fail_next(status)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_a_server_error_is_retried(kind: str) -> None:
    build, make, address = BUILDERS[kind]
    fake = make()
    with serve(fake.route) as url:
        n = build(url, 5)
        fail(fake, 503)
        with pytest.raises(SendFailed) as info:
            n.send(msg(address))
        assert not info.value.permanent and not info.value.credentials
        assert n.send(msg(address)).provider_id  # and the retry goes through


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_a_timeout_is_retried(kind: str) -> None:
    build, _, address = BUILDERS[kind]
    with silent() as url:
        with pytest.raises(SendFailed) as info:
            build(url, 1).send(msg(address))
    assert not info.value.permanent and info.value.provider_code == "unreachable"


def test_a_revoked_slack_token_is_a_credentials_problem() -> None:
    fake = slack.FakeSlack()
    with serve(fake.route) as url:
        n = SlackBotNotifier(token="xoxb-revoked", base_url=f"{url}/api", timeout=5)
        with pytest.raises(SendFailed) as info:
            n.send(msg("C0INCIDENTS"))
    assert info.value.credentials and not info.value.permanent
