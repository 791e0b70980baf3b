"""The lifecycle runs on one shared transitions.Machine per playbook version."""

from __future__ import annotations

import pytest

from engine.incidents import lifecycle
from engine.kernel.errors import Forbidden, InvalidTransition
from engine.playbooks.loading import load_text
from tests.unit.test_playbook import MINIMAL

GUARDED = MINIMAL.replace("dest: resolved}", "dest: resolved, role: comms_lead}")


def test_one_machine_per_version_is_shared_and_holds_no_models() -> None:
    pb = load_text(MINIMAL, file="a.yaml")
    m = lifecycle.machine_for(pb)
    assert lifecycle.machine_for(load_text(MINIMAL, file="b.yaml")) is m  # same text, same version
    assert lifecycle.machine_for(load_text(GUARDED, file="c.yaml")) is not m
    for _ in range(50):
        lifecycle.next_state(pb, state="declared", trigger="acknowledge", role="operator")
    assert m.models == []  # incidents pass through; they are never added


def test_fire_moves_state_through_the_machine() -> None:
    pb = load_text(MINIMAL, file="a.yaml")
    state, guard = lifecycle.next_state(
        pb, state="declared", trigger="acknowledge", role="operator"
    )
    assert (state, guard) == ("investigating", None)


def test_the_machine_itself_decides_guards_and_destinations() -> None:
    """Issue 21: the playbook's Machine (role guards as conditions) is the one decider."""
    pb = load_text(GUARDED, file="g.yaml")
    m = lifecycle.machine_for(pb)
    comms, viewer = lifecycle.Subject("investigating"), lifecycle.Subject("investigating")
    assert m.events["resolve"].trigger(comms, role="comms_lead") is True
    assert (comms.state, comms.guard) == ("resolved", "comms_lead")
    assert m.events["resolve"].trigger(viewer, role="viewer") is False
    assert (viewer.state, viewer.refused) == ("investigating", "comms_lead")
    assert lifecycle.next_state(pb, state="investigating", trigger="resolve", role="admin") == (
        "resolved",
        "comms_lead",
    )


def test_invalid_trigger_names_the_trigger_and_the_state() -> None:
    pb = load_text(MINIMAL, file="a.yaml")
    with pytest.raises(InvalidTransition) as info:
        lifecycle.next_state(pb, state="declared", trigger="resolve", role="admin")
    assert str(info.value) == (
        "cannot 'resolve' an incident in state 'declared' (allowed here: acknowledge)"
    )
    assert (info.value.trigger, info.value.state) == ("resolve", "declared")


def test_unknown_trigger_and_final_state_are_invalid_transitions() -> None:
    pb = load_text(MINIMAL, file="a.yaml")
    with pytest.raises(InvalidTransition, match="'explode'"):
        lifecycle.next_state(pb, state="declared", trigger="explode", role="admin")
    with pytest.raises(InvalidTransition, match="none: the state is final"):
        lifecycle.next_state(pb, state="resolved", trigger="acknowledge", role="admin")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", False),
        ("operator", False),
        ("marketer", False),
        ("automation", False),
        ("comms_lead", True),
        ("admin", True),
    ],
)
def test_role_guard(role: str, allowed: bool) -> None:
    pb = load_text(GUARDED, file="g.yaml")
    if allowed:
        assert (
            lifecycle.next_state(pb, state="investigating", trigger="resolve", role=role)[0]
            == "resolved"
        )
    else:
        with pytest.raises(Forbidden, match="needs the comms_lead role"):
            lifecycle.next_state(pb, state="investigating", trigger="resolve", role=role)


def test_any_state_source_excludes_final_states() -> None:
    text = MINIMAL + "  - {trigger: escalate, source: '*', dest: investigating}\n"
    pb = load_text(text, file="a.yaml")
    assert "escalate" in pb.allowed_triggers("declared")
    assert pb.allowed_triggers("resolved") == ()
    assert (
        lifecycle.next_state(pb, state="declared", trigger="escalate", role="operator")[0]
        == "investigating"
    )
