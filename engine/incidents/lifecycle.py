"""The incident lifecycle: one shared ``transitions.Machine`` per playbook version.

Incidents are never added to the machine as models (state lives in the store). To fire a
trigger the service layer wraps the stored state in a throw-away :class:`Subject` and runs
the machine's event on it; the row lock held by the caller serialises work on one incident,
so the machine needs no lock of its own.

The machine is the one decider: whether a trigger may fire from a state, where it leads, and
whether the caller's role meets a transition's guard (a condition on that transition). There is
no second lookup of the playbook's transitions beside it.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError

from engine.kernel.errors import Forbidden, InvalidTransition
from engine.kernel.roles import satisfies
from engine.playbooks.playbook import ANY_STATE, Playbook

_machines: dict[str, Machine] = {}  # memo of a pure function: a race builds an equal twin


class Subject:
    """The minimal model the machine moves: a ``state``, and what its guards saw."""

    __slots__ = ("guard", "refused", "state")

    def __init__(self, state: str) -> None:
        self.state = state
        self.guard: str | None = None  # the role a guard on the transition taken required
        self.refused: str | None = None  # the role a guard required and the caller lacked


def machine_for(pb: Playbook) -> Machine:
    """Return the machine of this playbook version, building it once."""
    m = _machines.get(pb.version)
    if m is None:
        m = _machines.setdefault(pb.version, build_machine(pb))
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
        send_event=True,
    )


def _transition_specs(pb: Playbook, *, guards: bool = True) -> list[dict[str, Any]]:
    """The playbook's transitions as transitions' configuration data."""
    specs: list[dict[str, Any]] = []
    for t in pb.transitions:
        sources = list(t.sources)
        if ANY_STATE in t.sources:
            sources = [s for s in pb.states if s not in pb.final]
        spec: dict[str, Any] = {"trigger": t.trigger, "source": sources, "dest": t.dest}
        if t.role is not None and guards:
            spec["conditions"] = [_guard(t.role)]
        specs.append(spec)
    return specs


def _guard(required: str) -> Any:
    """A transition condition: the caller's role (passed with the trigger) meets ``required``."""

    def meets(event: Any) -> bool:
        subject: Subject = event.model
        if satisfies(str(event.kwargs.get("role", "")), required):
            subject.guard = required
            return True
        subject.refused = required
        return False

    return meets


def next_state(pb: Playbook, *, state: str, trigger: str, role: str) -> tuple[str, str | None]:
    """Run ``trigger`` from ``state`` as a user with ``role``: (new state, guard role or None).

    Raises InvalidTransition when the state does not allow the trigger, and Forbidden when
    the transition is guarded by a role the user does not meet.
    """
    machine = machine_for(pb)
    subject = Subject(state)
    event = machine.events.get(trigger)
    try:
        if event is None:
            raise MachineError(f"unknown trigger {trigger!r}")
        moved = event.trigger(subject, role=role)
    except MachineError:
        allowed = tuple(machine.get_triggers(state))
        raise InvalidTransition(trigger=trigger, state=state, allowed=allowed) from None
    if not moved:
        required = subject.refused or "another"
        raise Forbidden(
            f"'{trigger}' needs the {required} role (you are {role})", required=required
        )
    return subject.state, subject.guard


def mermaid(pb: Playbook) -> str:
    """The playbook's lifecycle as a Mermaid state diagram, drawn by transitions' GraphMachine."""
    from transitions.extensions import GraphMachine

    graph = GraphMachine(
        states=list(pb.states),
        transitions=_transition_specs(pb, guards=False),
        initial=pb.initial,
        auto_transitions=False,
        graph_engine="mermaid",
        title=pb.name,
    )
    return str(graph.get_graph().draw(None))
