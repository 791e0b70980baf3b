"""What no schema can say about a playbook, checked on the validated model, then built.

The format (``engine.playbooks.format``) has said what may be written where; these checks
say that it makes sense: states reachable and able to finish, references to states,
severities, triggers, channels, audiences and templates that exist, templates that compile,
steps in order. Every problem is located through the document's nodes. The result is the
engine's frozen :class:`~engine.playbooks.playbook.Playbook`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType

from yaml.nodes import ScalarNode

from engine.kernel.durations import parse_duration
from engine.playbooks import format as f
from engine.playbooks.content import Content
from engine.playbooks.located import Loc, Located
from engine.playbooks.playbook import (
    ANY_STATE,
    COMMS_LEAD_ROLE,
    Escalation,
    EscalationStep,
    FreezeRule,
    FreezeScope,
    Playbook,
    Target,
    Transition,
    version_of,
)


class Checks:
    """The checks of one playbook, and the dataclasses they build."""

    def __init__(
        self,
        spec: f.PlaybookFile,
        located: Located,
        channels: Collection[str] | None,
        *,
        valid: Collection[str] | None = None,
    ) -> None:
        """``valid``: the top-level keys that passed the format (None: all of them). When some
        did not, the others are still checked, and references into a part that did not pass
        are not reported again."""
        self.spec = spec
        self.located = located
        self.channels = channels
        self.valid = set(type(spec).model_fields) if valid is None else set(valid)
        self.severities = dict(spec.severities)
        self.states: list[str] = []
        self.triggers: set[str] = set()
        self.state_index: dict[str, int] = {}

    # --- reporting ------------------------------------------------------------------------
    def problem(self, loc: Loc, path: str, message: str, *, key: bool = False) -> None:
        node = self.located.keys.get(loc) if key else None
        self.located.reader.problem(node or self.located.node(loc), path, message)

    def known_state(self, state: str, loc: Loc, path: str) -> bool:
        if "states" in self.valid and state not in self.states:
            known = ", ".join(self.states)
            self.problem(loc, path, f"unknown state {state!r} (states: {known})")
            return False
        return True

    def known_severity(self, sev: str, loc: Loc, path: str, *, key: bool = False) -> bool:
        if "severities" in self.valid and sev not in self.severities:
            known = ", ".join(self.severities) or "none defined"
            self.problem(loc, path, f"unknown severity {sev!r} (severities: {known})", key=key)
            return False
        return True

    def configured(self, channel: str, loc: Loc, path: str, *, key: bool = False) -> bool:
        if self.channels is not None and channel not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none"
            message = f"channel {channel!r} is not configured (configured: {known})"
            self.problem(loc, path, message, key=key)
            return False
        return True

    def severity_list(self, names: Iterable[str], loc: Loc, path: str) -> tuple[str, ...]:
        return tuple(s for i, s in enumerate(names) if self.known_severity(s, (*loc, i), path))

    def channel_list(self, names: Iterable[str], loc: Loc, path: str) -> tuple[str, ...]:
        return tuple(c for i, c in enumerate(names) if self.configured(c, (*loc, i), path))

    # --- the whole ------------------------------------------------------------------------
    def playbook(self, text: str) -> Playbook | None:
        s, valid = self.spec, self.valid
        if not self.severities and "severities" in valid:
            self.problem(("severities",), "severities", "name at least one severity")
        before = len(self.located.reader.problems)
        if "states" in valid:
            self.check_states()
        initial = (
            s.initial
            if "initial" in valid and self.known_state(s.initial, ("initial",), "initial")
            else None
        )
        final = tuple(
            x for i, x in enumerate(s.final) if self.known_state(x, ("final", i), "final")
        )
        transitions = self.transitions() if "transitions" in valid else ()
        self.triggers = {t.trigger for t in transitions}
        whole = {"states", "final", "transitions"} <= valid
        if initial and whole and len(self.located.reader.problems) == before:
            Graph(self, initial, final, transitions).check()
        escalation = self.escalation() if s.escalation else None
        freeze = self.freeze() if s.freeze else None
        cadence, remind = self.cadence()
        content = Content(self)
        audiences = content.audiences()
        templates = content.templates(audiences)
        resolved = content.resolutions(audiences, templates)
        policy = content.policy()
        triggers = content.triggers(set(templates))
        cap = content.cap()
        if self.located.reader.problems or initial is None:
            return None
        return Playbook(
            id=s.id,
            name=s.name,
            version=version_of(text),
            source=self.located.reader.file,
            text=text,
            description=s.description,
            severities=MappingProxyType(self.severities),
            states=tuple(self.states),
            initial=initial,
            final=final,
            transitions=transitions,
            escalation=escalation,
            freeze=freeze,
            cadence=MappingProxyType(cadence),
            cadence_remind=remind,
            audiences=MappingProxyType(audiences),
            templates=MappingProxyType(templates),
            policy=policy,
            triggers=triggers,
            cap=MappingProxyType(cap),
            cap_category=s.cap.category,
            stakeholders=tuple(s.stakeholders),
            resolved=MappingProxyType(resolved),
        )

    # --- lifecycle ------------------------------------------------------------------------
    def check_states(self) -> None:
        seen: dict[str, int] = {}
        for i, state in enumerate(self.spec.states):
            if state in seen:
                self.problem(("states", i), "states", f"duplicate state {state!r}")
            elif state == ANY_STATE:
                self.problem(("states", i), "states", "'*' is reserved for 'any state'")
            else:
                seen[state] = i
        self.states = list(seen)
        self.state_index = seen
        if not seen:
            self.problem(("states",), "states", "name at least one state")

    def transitions(self) -> tuple[Transition, ...]:
        out: list[Transition] = []
        seen: dict[tuple[str, str], int] = {}
        for i, t in enumerate(self.spec.transitions):
            path, loc = f"transitions[{i}]", ("transitions", i)
            trigger: str | None = t.trigger
            if not t.trigger.isidentifier():
                self.problem(
                    (*loc, "trigger"),
                    f"{path}.trigger",
                    "a trigger must be a Python identifier (letters, digits, _)",
                )
                trigger = None
            sources = [
                s
                for j, s in enumerate(t.source)
                if s == ANY_STATE or self.known_state(s, (*loc, "source", j), f"{path}.source")
            ]
            dest_ok = self.known_state(t.dest, (*loc, "dest"), f"{path}.dest")
            if trigger is None or not dest_ok or not sources:
                continue
            for s in sources:
                if (trigger, s) in seen:
                    self.problem(
                        (*loc, "trigger"),
                        f"{path}.trigger",
                        f"trigger {trigger!r} from {s!r} is already defined at "
                        f"transitions[{seen[(trigger, s)]}]",
                    )
                seen[(trigger, s)] = i
            out.append(Transition(trigger, tuple(sources), t.dest, t.role))
        if not out and not self.located.reader.problems:
            self.problem(("transitions",), "transitions", "define at least one transition")
        return tuple(out)

    # --- escalation, freeze, cadence --------------------------------------------------------
    def escalation(self) -> Escalation:
        e = self.spec.escalation
        assert e is not None
        until = e.until or "acknowledge"
        if "transitions" not in self.valid:
            pass  # the transitions did not pass the format: their triggers are unknown
        elif e.until is not None and e.until not in self.triggers:
            known = ", ".join(sorted(self.triggers))
            self.problem(
                ("escalation", "until"),
                "escalation.until",
                f"unknown trigger {until!r} (triggers: {known})",
            )
        elif e.until is None and "acknowledge" not in self.triggers:
            self.problem(
                ("escalation",),
                "escalation.until",
                "no 'acknowledge' trigger: name the trigger that stops the ladder",
            )
        steps: list[EscalationStep] = []
        last = timedelta(0)
        for i, step in enumerate(e.steps):
            path, loc = f"escalation.steps[{i}]", ("escalation", "steps", i)
            after = parse_duration(step.after)
            if after < last:
                self.problem(
                    (*loc, "after"),
                    f"{path}.after",
                    "steps must be in order: this step is earlier than the one before",
                )
            last = after
            targets = tuple(
                Target("role", t.role) if t.role else Target("person", t.person or "")
                for t in step.notify
            )
            via = self.channel_list(step.via, (*loc, "via"), f"{path}.via")
            if targets and via:
                steps.append(EscalationStep(after, targets, via))
        repeat_after = parse_duration(e.repeat_after) if e.repeat_after else None
        if repeat_after is not None and steps and repeat_after <= steps[-1].after:
            self.problem(
                ("escalation", "repeat_after"),
                "escalation.repeat_after",
                "a round must last longer than its last step's 'after'",
            )
        urgent = (
            self.severity_list(e.urgent, ("escalation", "urgent"), "escalation.urgent")
            if e.urgent is not None
            else None
        )
        return Escalation(until, e.repeat, tuple(steps), repeat_after, urgent)

    def freeze(self) -> FreezeRule:
        fz = self.spec.freeze
        assert fz is not None
        on = self.states[0] if self.states else "declared"
        if fz.on is not None and self.known_state(fz.on, ("freeze", "on"), "freeze.on"):
            on = fz.on
        sc = fz.scope
        loc: Loc = ("freeze", "scope")
        chans = self.channel_list(sc.channels, (*loc, "channels"), "freeze.scope.channels")
        written = self.located.values.get((*loc, "regions"))
        from_incident = isinstance(written, ScalarNode) and sc.regions == ["incident"]
        regions = () if from_incident else tuple(sc.regions)
        if not (chans or sc.tags or regions or from_incident):
            self.problem(
                loc,
                "freeze.scope",
                "an empty scope would freeze everything: name channels, tags or regions",
            )
        scope = FreezeScope(chans, tuple(sc.tags), regions, from_incident)
        cooldown = parse_duration(fz.cooldown) if fz.cooldown else timedelta(0)
        return FreezeRule(on, scope, fz.on_lift, cooldown)

    def cadence(self) -> tuple[dict[str, timedelta], tuple[str, ...]]:
        c = self.spec.cadence
        out: dict[str, timedelta] = {}
        for sev, written in (c.model_extra or {}).items():
            path, loc = f"cadence.{sev}", ("cadence", sev)
            if not self.known_severity(sev, loc, path, key=True):
                continue
            d = parse_duration(written)
            if d <= timedelta(0):
                self.problem(loc, path, "a cadence must be longer than zero")
            else:
                out[sev] = d
        return out, tuple(c.remind or ()) or (COMMS_LEAD_ROLE,)


class Graph:
    """Every state reachable from the initial one, and every reached state able to finish."""

    def __init__(
        self,
        checks: Checks,
        initial: str,
        final: tuple[str, ...],
        transitions: tuple[Transition, ...],
    ) -> None:
        self.c = checks
        self.initial = initial
        self.final = final
        self.transitions = transitions

    def check(self) -> None:
        c, states, final = self.c, self.c.states, self.final
        for i, t in enumerate(self.transitions):
            bad = [s for s in t.sources if s in final]
            if bad:
                c.problem(
                    ("transitions", i),
                    f"transitions[{i}].source",
                    f"final state {bad[0]!r} cannot have outgoing transitions",
                )
        edges: dict[str, set[str]] = {s: set() for s in states}
        for t in self.transitions:
            sources = (
                [s for s in states if s not in final]
                if ANY_STATE in t.sources
                else [s for s in t.sources if s not in final]
            )
            for s in sources:
                edges.setdefault(s, set()).add(t.dest)
        reached = _reach(self.initial, edges)
        for s in states:
            if s not in reached:
                where = ("states", c.state_index[s])
                c.problem(where, "states", f"state {s!r} is unreachable from {self.initial!r}")
        if not final:
            c.problem(("final",), "final", "name at least one final state")
            return
        reverse: dict[str, set[str]] = {s: set() for s in states}
        for s, dests in edges.items():
            for d in dests:
                reverse.setdefault(d, set()).add(s)
        can_finish: set[str] = set()
        for x in final:
            can_finish |= _reach(x, reverse)
        for s in states:
            if s in reached and s not in can_finish:
                c.problem(
                    ("states", c.state_index[s]),
                    "states",
                    f"state {s!r} cannot reach a final state ({', '.join(final)})",
                )


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
