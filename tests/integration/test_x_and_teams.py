"""X and Microsoft Teams against loopback stand-ins that check each request the way the
provider documents it (tests/fakes/x.py, tests/fakes/teams.py): threads on X, the Adaptive
Card in Teams, and each fault as the outbox needs it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage
from notifiers.teams import TeamsNotifier
from notifiers.x import XNotifier
from tests.fakes.http import serve
from tests.fakes.teams import FakeTeams, url
from tests.fakes.x import ACCESS, CONSUMER, FakeX


def msg(body: str, n: int = 1, **meta: Any) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=n, kind="update", channel="x", medium="social", address="@brand",
        body=body, subject="INC-7", meta={"incident_id": 7} | meta,
    )  # fmt: skip


@pytest.fixture
def x() -> Iterator[tuple[FakeX, str]]:
    fake = FakeX()
    with serve(fake.route) as base:
        yield fake, base


def x_notifier(base: str, *, secret: str = CONSUMER[1]) -> XNotifier:
    return XNotifier(consumer_key=CONSUMER[0], consumer_secret=secret, access_token=ACCESS[0],
                     access_token_secret=ACCESS[1], base_url=base, timeout=5)  # fmt: skip


def test_an_x_thread_replies_to_the_newest_post(x: tuple[FakeX, str]) -> None:
    fake, base = x
    n = x_notifier(base)
    first = n.send(msg("Trains between Lille and London are stopped. Next update by 22:15 GMT."))
    second = n.send(msg("Still stopped. Next update by 22:45 GMT.", 2, reply_to=first.provider_id))
    third = n.send(msg("Trains are moving again.", 3, reply_to=second.provider_id))
    assert [p["reply_to"] for p in fake.posts.values()] == [
        None, first.provider_id, second.provider_id
    ]  # fmt: skip
    assert third.provider_id in fake.posts


def test_x_refuses_a_bad_signature_and_the_outbox_keeps_trying(x: tuple[FakeX, str]) -> None:
    """The stand-in can fail: a wrong consumer secret makes a signature X would refuse."""
    fake, base = x
    with pytest.raises(SendFailed) as info:
        x_notifier(base, secret="not-the-secret").send(msg("Trains are stopped."))
    assert info.value.provider_code == "401" and not info.value.permanent  # a new token fixes it
    assert "token rejected" in str(info.value) and "signature mismatch" in str(info.value)
    assert fake.posts == {}


def test_x_rate_limit_waits_for_its_reset(x: tuple[FakeX, str]) -> None:
    fake, base = x
    fake.fail_next(429, reset_in=40)
    with pytest.raises(SendFailed) as info:
        x_notifier(base).send(msg("Trains are stopped."))
    assert info.value.retry_after is not None and 35 <= info.value.retry_after <= 41


def test_x_duplicates_and_overlong_posts_are_permanent(x: tuple[FakeX, str]) -> None:
    fake, base = x
    n = x_notifier(base)
    n.send(msg("Trains are stopped."))
    with pytest.raises(SendFailed) as dup:
        n.send(msg("Trains are stopped.", 2))
    assert dup.value.permanent and dup.value.provider_code == "duplicate"
    with pytest.raises(SendFailed) as long:
        n.send(msg("\u65e5" * 141, 3))  # 141 code points, 282 weighted
    assert long.value.permanent and long.value.provider_code == "too_long"
    assert len(fake.posts) == 1


def test_x_network_failure_is_transient() -> None:
    with pytest.raises(SendFailed) as info:
        x_notifier("http://127.0.0.1:9").send(msg("Trains are stopped."))
    assert info.value.provider_code == "unreachable" and not info.value.permanent


@pytest.fixture
def teams() -> Iterator[tuple[FakeTeams, str]]:
    fake = FakeTeams()
    with serve(fake.route) as base:
        yield fake, base


def test_a_teams_card_carries_severity_state_and_a_link(teams: tuple[FakeTeams, str]) -> None:
    fake, base = teams
    n = TeamsNotifier(url=url(base), public_url="https://ops.example.org/", timeout=5)
    n.send(msg("Trains are stopped.", severity="sev1", state="investigating", title="Tunnel",
               locale="fr-FR"))  # fmt: skip
    [card] = fake.cards
    assert card["body"][0]["text"] == "INC-7 Tunnel"
    assert card["body"][1]["text"] == "Trains are stopped."
    assert card["body"][2]["facts"] == [
        {"title": "Severity", "value": "SEV1"}, {"title": "State", "value": "investigating"}
    ]  # fmt: skip
    assert card["actions"][0]["url"] == "https://ops.example.org/incidents/7"
    assert card["lang"] == "fr-FR"


def test_teams_refuses_a_wrong_signature_and_says_so(teams: tuple[FakeTeams, str]) -> None:
    """The stand-in can fail: a rotated workflow URL is a 401, kept retrying and shown."""
    fake, base = teams
    bad = url(base).replace("sig=", "sig=x")
    with pytest.raises(SendFailed) as info:
        TeamsNotifier(url=bad, timeout=5).send(msg("Trains are stopped."))
    assert info.value.provider_code == "401" and not info.value.permanent
    assert fake.cards == []
    assert "****" in repr(TeamsNotifier(url=bad)) and "sig" not in repr(TeamsNotifier(url=bad))


def test_teams_faults_are_classified(teams: tuple[FakeTeams, str]) -> None:
    fake, base = teams
    n = TeamsNotifier(url=url(base), timeout=5)
    fake.fail_next(429, retry_after=7)
    with pytest.raises(SendFailed) as limited:
        n.send(msg("Trains are stopped."))
    assert limited.value.retry_after == 7 and not limited.value.permanent
    fake.fail_next(502)
    with pytest.raises(SendFailed) as down:
        n.send(msg("Trains are stopped."))
    assert not down.value.permanent
    with pytest.raises(SendFailed) as big:
        n.send(msg("x" * 30_000))
    assert big.value.permanent and big.value.provider_code == "too_long"
    n.send(msg("Trains are stopped."))
    assert len(fake.cards) == 1
