"""The incident lifecycle: one shared ``transitions.Machine`` per playbook version.

Incidents are never added to the machine as models (state lives in the store). To fire a
trigger the service layer wraps the stored state in a throw-away :class:`Subject` and runs
the machine's event on it; the row lock held by the caller serialises work on one incident,
so the machine needs no lock of its own.
"""

from __future__ import annotations

import threading
from typing import Any

from transitions import Machine, MachineError

from engine.errors import Forbidden, InvalidTransition
from engine.playbook import ANY_STATE, Playbook, Transition
from engine.roles import satisfies

_machines: dict[str, Machine] = {}
_build_lock = threading.Lock()


class Subject:
    """The minimal model the machine moves: just a ``state``."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def machine_for(pb: Playbook) -> Machine:
    """Return the machine of this playbook version, building it once."""
    m = _machines.get(pb.version)
    if m is None:
        with _build_lock:
            m = _machines.get(pb.version)
            if m is None:
                m = build_machine(pb)
                _machines[pb.version] = m
    return m


def build_machine(pb: Playbook) -> Machine:
    """Build the machine for ``pb`` (no models, no automatic ``to_*`` triggers)."""
    return Machine(
        model=None,
        states=list(pb.states),
        transitions=_transition_specs(pb),
        initial=pb.initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def _transition_specs(pb: Playbook) -> list[dict[str, Any]]:
    """The playbook's transitions as transitions' configuration data."""
    specs: list[dict[str, Any]] = []
    for t in pb.transitions:
        sources = list(t.sources)
        if ANY_STATE in t.sources:
            sources = [s for s in pb.states if s not in pb.final]
        specs.append({"trigger": t.trigger, "source": sources, "dest": t.dest})
    return specs


def find_transition(pb: Playbook, state: str, trigger: str) -> Transition:
    """Return the transition ``trigger`` takes from ``state``; raise InvalidTransition."""
    for t in pb.transitions_from(state):
        if t.trigger == trigger:
            return t
    raise InvalidTransition(trigger=trigger, state=state, allowed=pb.allowed_triggers(state))


def next_state(pb: Playbook, *, state: str, trigger: str, role: str) -> tuple[str, Transition]:
    """Run ``trigger`` from ``state`` as a user with ``role``; return the new state.

    Raises InvalidTransition when the state does not allow the trigger, and Forbidden when
    the transition is guarded by a role the user does not meet.
    """
    t = find_transition(pb, state, trigger)
    if t.role is not None and not satisfies(role, t.role):
        raise Forbidden(f"'{trigger}' needs the {t.role} role (you are {role})", required=t.role)
    subject = Subject(state)
    try:
        machine_for(pb).events[trigger].trigger(subject)
    except (MachineError, KeyError) as exc:  # the playbook data and machine disagree
        raise InvalidTransition(
            trigger=trigger, state=state, allowed=pb.allowed_triggers(state)
        ) from exc
    return subject.state, t


def mermaid(pb: Playbook) -> str:
    """The playbook's lifecycle as a Mermaid state diagram, drawn by transitions' GraphMachine."""
    from transitions.extensions import GraphMachine

    graph = GraphMachine(
        states=list(pb.states),
        transitions=_transition_specs(pb),
        initial=pb.initial,
        auto_transitions=False,
        graph_engine="mermaid",
        title=pb.name,
    )
    return str(graph.get_graph().draw(None))
