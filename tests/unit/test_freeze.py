"""Which posts a freeze holds, and what lifting does (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.calendar.rules import PostFacts, Scope, after_lift, holding, matches

NOW = datetime(2009, 12, 18, 22, 0, tzinfo=UTC)
EUROSTAR = Scope(
    channels=("twitter", "facebook", "newsletter"), tags=("promo",), regions=("lille", "calais")
)


@pytest.mark.parametrize(
    ("post", "held"),
    [
        (PostFacts("newsletter", ("promo",), ()), True),  # "Europe: the ideal Christmas gift"
        (PostFacts("twitter", ("promo", "xmas"), ("lille",)), True),
        (PostFacts("twitter", ("promo",), ("london",)), False),  # another region
        (PostFacts("instagram", ("promo",), ()), False),  # a channel the scope does not name
        (PostFacts("twitter", ("engineering",), ()), False),  # not a promo
        (PostFacts("twitter", ("promo", "operational"), ()), False),  # operational: never held
    ],
)
def test_matches(post: PostFacts, held: bool) -> None:
    assert matches(EUROSTAR, post) is held


def test_an_unconstrained_dimension_matches_everything() -> None:
    assert matches(Scope(tags=("promo",)), PostFacts("anything", ("promo",), ("anywhere",)))
    assert not matches(Scope(tags=("promo",)), PostFacts("anything", (), ()))


def test_holding_lists_every_freeze_that_holds_a_post() -> None:
    scopes = {1: EUROSTAR, 2: Scope(tags=("promo",)), 3: Scope(channels=("sms",))}
    assert holding(scopes, PostFacts("twitter", ("promo",), ())) == [1, 2]


@pytest.mark.parametrize(
    ("policy", "minutes_ahead", "still", "expected"),
    [
        ("review", 30, [], ("held", True)),
        ("resume", 30, [], ("scheduled", False)),
        ("resume", -30, [], ("held", True)),  # past due: a person decides
        ("discard", 30, [], ("cancelled", False)),
        ("resume", 30, [7], ("held", False)),  # another freeze still holds it
        ("discard", 30, [7], ("held", False)),
    ],
)
def test_after_lift(
    policy: str, minutes_ahead: int, still: list[int], expected: tuple[str, bool]
) -> None:
    d = after_lift(
        policy, publish_at=NOW + timedelta(minutes=minutes_ahead), now=NOW, still_held_by=still
    )
    assert (d.state, d.review) == expected


def test_scope_round_trips_through_json() -> None:
    assert Scope.from_json(EUROSTAR.to_json()) == EUROSTAR
    assert Scope().empty and not EUROSTAR.empty
