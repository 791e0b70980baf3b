"""The hash chain names the first broken event for edits, deletions and reorders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

from engine.kernel.models import Event
from engine.kernel.timeline import GENESIS, event_hash, verify_chain

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEY = b"the deployment's audit key, kept outside the database"


def chain(n: int) -> list[Event]:
    out: list[Event] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(minutes=seq)
        data = {"n": seq, "note": "é"}
        h = event_hash(
            incident_id=7,
            seq=seq,
            type=f"t{seq}",
            actor="olu",
            at=at,
            data=data,
            prev_hash=prev,
            key=KEY,
        )
        out.append(Event(7, seq, f"t{seq}", "olu", at, data, prev, h))
        prev = h
    return out


verify = partial(verify_chain, key=KEY)


def test_an_intact_chain_verifies() -> None:
    events = chain(5)
    assert verify(7, events, head_seq=5, head_hash=events[-1].hash) == []


def test_an_edited_event_is_named() -> None:
    events = chain(5)
    events[2] = replace(events[2], data={"n": 3, "note": "edited"})
    assert verify(7, events, head_seq=5, head_hash=events[-1].hash) == [
        "incident 7: event seq 3 (t3) was edited: its content no longer matches its hash"
    ]


def test_an_edited_actor_or_time_is_named() -> None:
    events = chain(3)
    events[0] = replace(events[0], actor="mallory")
    assert (
        "event seq 1 (t1) was edited" in verify(7, events, head_seq=3, head_hash=events[-1].hash)[0]
    )
    events = chain(3)
    events[1] = replace(events[1], at=events[1].at + timedelta(seconds=1))
    assert (
        "event seq 2 (t2) was edited" in verify(7, events, head_seq=3, head_hash=events[-1].hash)[0]
    )


def test_a_deleted_event_is_named() -> None:
    events = chain(5)
    del events[1]
    assert verify(7, events, head_seq=5, head_hash=chain(5)[-1].hash) == [
        "incident 7: event seq 2 is missing (the chain jumps to seq 3)"
    ]


def test_deleting_the_newest_event_disagrees_with_the_head() -> None:
    events = chain(5)
    head = events[-1].hash
    assert "the newest events were deleted" in verify(7, events[:-1], head_seq=5, head_hash=head)[0]


def test_reordered_events_are_named() -> None:
    events = chain(5)
    a, b = events[1], events[2]
    events[1] = replace(b, seq=2)
    events[2] = replace(a, seq=3)
    found = verify(7, events, head_seq=5, head_hash=chain(5)[-1].hash)
    assert found and found[0].startswith("incident 7: event seq 2 (t3)")


def test_a_rewritten_chain_still_disagrees_with_its_head() -> None:
    """Recomputing every hash after an edit is caught by the head kept on the incident."""
    events = chain(3)
    head = events[-1].hash
    forged: list[Event] = []
    prev = GENESIS
    for e in events:
        data = {"n": 0} if e.seq == 2 else dict(e.data)
        h = event_hash(
            incident_id=7,
            seq=e.seq,
            type=e.type,
            actor=e.actor,
            at=e.at,
            data=data,
            prev_hash=prev,
            key=KEY,
        )
        forged.append(replace(e, data=data, prev_hash=prev, hash=h))
        prev = h
    assert verify(7, forged, head_seq=3, head_hash=head)


def test_a_chain_recomputed_without_the_key_is_named_with_its_head_forged_too() -> None:
    """Issue 13.16: someone with database write access recomputed the unkeyed chain *and* its
    head after changing an approver; `crisis audit verify` said intact. Without the key the
    forgery can only produce plain hashes, and the verifier names the first."""
    events = chain(3)
    forged: list[Event] = []
    prev = GENESIS
    for e in events:
        actor = "mallory" if e.seq == 2 else e.actor
        h = event_hash(
            incident_id=7,
            seq=e.seq,
            type=e.type,
            actor=actor,
            at=e.at,
            data=e.data,
            prev_hash=prev,
            key=None,
        )
        forged.append(replace(e, actor=actor, prev_hash=prev, hash=h))
        prev = h
    found = verify(7, forged, head_seq=3, head_hash=prev)
    assert found and "event seq 1 (t1) is not signed with the audit key" in found[0]
    other_key = verify_chain(7, chain(3), head_seq=3, head_hash=chain(3)[-1].hash, key=b"x")
    assert other_key and "was edited" in other_key[0]
