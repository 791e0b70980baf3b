"""Every pattern that sees outside input runs in time linear in that input (issue 13.5).

Each case times its parser on hostile input of length n and 8n in the same run: a linear
matcher takes about 8 times as long, a backtracking one about 64 times (or far worse). The
bound of 24 leaves room for a noisy shared machine while still failing the quadratic
patterns these replaced (``ACK\\s*#?\\s*(\\d+)?\\s*$`` on spaces, the log redactor on a long
path), which were measured here at ratios of 50 and more.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from engine.kernel import linear
from engine.updates.rules import cites_next_update
from web.hooks import parse_ack
from web.logs import Redactor

SMALL = 2_000
RATIO_BOUND = 24


def _best(fn: Callable[[str], object], text: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - t)
    return max(best, 1e-6)


def _ratio(fn: Callable[[str], object], make: Callable[[int], str]) -> float:
    fn(make(SMALL))  # warm up
    return _best(fn, make(SMALL * 8)) / _best(fn, make(SMALL))


redact = Redactor(["a-long-secret-value"])
author_rule = linear.pattern(r"(?i)(a+)+$")  # catastrophic in a backtracking engine

CASES: dict[str, tuple[Callable[[str], object], Callable[[int], str]]] = {
    "sms acknowledgement": (parse_ack, lambda n: "ACK" + " " * n + "!x"),
    "sms acknowledgement, digits": (parse_ack, lambda n: "ACK #" + "1" * n + "x"),
    "log redaction, long path": (redact, lambda n: "GET /" + "cc_" * n),
    "log redaction, bearer runs": (redact, lambda n: "bearer " * n),
    "log redaction, url": (redact, lambda n: "x://" + "a:" * n),
    "log redaction, unsubscribe": (redact, lambda n: "/status/unsubscribe/" * n),
    "policy rule by an author": (author_rule.search, lambda n: "a" * n + "!"),
    "next-update time in a draft": (cites_next_update, lambda n: "1:" * n),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pattern_time_grows_linearly_with_hostile_input(name: str) -> None:
    fn, make = CASES[name]
    ratio = _ratio(fn, make)
    assert ratio < RATIO_BOUND, f"{name}: 8x the input took {ratio:.0f}x the time"


def test_the_old_backtracking_ack_pattern_fails_this_check() -> None:
    """The check can fail: the pattern the SMS hook used before is caught by it."""
    import re

    old = re.compile(r"^\s*(?:ack(?:nowledge)?|ok|1)\s*#?\s*(\d+)?\s*[.!]?\s*$", re.I)
    small, large = "ACK" + " " * 20 + "!x", "ACK" + " " * 160 + "!x"  # 450 spaces took 9.6 s
    assert _best(old.match, large, runs=1) / _best(old.match, small) > RATIO_BOUND


def test_backtracking_only_features_are_refused_when_compiled() -> None:
    with pytest.raises(linear.PatternError):
        linear.pattern(r"(a)\1")
    with pytest.raises(linear.PatternError):
        linear.pattern(r"(?<=x)y")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ACK", (True, None)),
        ("ack 12", (True, 12)),
        ("  OK #12. ", (True, 12)),
        ("Acknowledge!", (True, None)),
        ("1", (True, None)),
        ("okay", (False, None)),
        ("ACK 12 please", (False, None)),
        ("ACK 99999999999", (False, None)),
        ("ACK ١٢", (False, None)),  # Arabic-Indic digits are not an incident number
    ],
)
def test_acknowledgement_replies_are_read_as_before(
    body: str, expected: tuple[bool, int | None]
) -> None:
    assert parse_ack(body) == expected
