"""The worker cuts a batch of finished sends into short transactions: plain sends together,
at most RULED of those an owner acts on (a connector's scan, a thread) per transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.delivery.outcomes import Outcome
from engine.delivery.owners import Claimed, Owners
from engine.delivery.worker import RULED, parts
from engine.kernel.ports import OutboundMessage, Receipt

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def rule(*_args: object) -> None:
    pass


# As the app's: a connector's every success, and an update's only on the threaded media.
RULES = Owners(
    sent={"connector": rule, "update": rule}, sent_media={"update": frozenset({"social"})}
)


def outcome(i: int, kind: str, *, sent: bool = True, medium: str = "sms") -> Outcome:
    message = OutboundMessage(i, kind, "ch", medium, "+15550000000", "body")
    receipt = Receipt(f"SM{i}") if sent else None
    return Outcome(Claimed(message, 1, 6, None), NOW, receipt=receipt)


def test_plain_sends_stay_in_one_part() -> None:
    batch = [outcome(i, "update") for i in range(500)]
    assert [len(p) for p in parts(batch, owners=RULES)] == [500]


def test_a_part_closes_after_every_ruled_send_and_keeps_the_order() -> None:
    batch = []
    for i in range(3 * RULED + 1):
        batch += [outcome(2 * i, "connector"), outcome(2 * i + 1, "update")]
    cut = list(parts(batch, owners=RULES))
    assert [o for p in cut for o in p] == batch
    assert [sum(o.claimed.message.kind == "connector" for o in p) for p in cut] == [
        RULED, RULED, RULED, 1
    ]  # fmt: skip


def test_social_updates_are_ruled_and_sms_updates_are_not() -> None:
    batch = [outcome(i, "update", medium="social" if i % 2 else "sms") for i in range(4 * RULED)]
    cut = list(parts(batch, owners=RULES))
    assert [o for p in cut for o in p] == batch
    assert [sum(o.claimed.message.medium == "social" for o in p) for p in cut] == [RULED] * 2


def test_a_ruled_kind_that_failed_has_no_rule_to_run() -> None:
    batch = [outcome(i, "connector", sent=False) for i in range(3 * RULED)]
    assert len(list(parts(batch, owners=RULES))) == 1
