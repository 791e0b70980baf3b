"""Load and validate playbooks: YAML in, frozen dataclasses out, every error located.

A playbook's version is the SHA-256 of its text. Incidents pin the version they were
declared under (the text is stored with them), so editing a file never changes a running
incident. ``load_text`` either returns a valid :class:`Playbook` or raises
:class:`~engine.kernel.errors.PlaybookInvalid` whose problems read ``file:line:col: path: message``.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from yaml.nodes import Node, ScalarNode

from engine.kernel import linear
from engine.kernel.durations import parse_duration
from engine.kernel.errors import PlaybookInvalid, Problem
from engine.kernel.roles import GUARD_ROLES
from engine.playbooks.templating import check_template
from engine.playbooks.yamlsrc import Reader, iter_items, literal, scalar_value

ANY_STATE = "*"
ON_LIFT = ("review", "resume", "discard")
TRIGGER_SOURCES = ("alertmanager", "webhook", "grafana")
PUBLIC_REQUIREMENTS = ("next_update",)
CAP_URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
CAP_SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CAP_CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
DEFAULT_LOCALE = "en"


# The roster role told when nobody else is named (cadence reminders, approvals waiting).
COMMS_LEAD_ROLE = "comms-lead"


@dataclass(frozen=True)
class Transition:
    trigger: str
    sources: tuple[str, ...]  # ("*",) means any non-final state
    dest: str
    role: str | None = None


@dataclass(frozen=True)
class Target:
    """Who a step notifies: everyone holding a roster role, or one named person."""

    kind: Literal["role", "person"]
    name: str


@dataclass(frozen=True)
class EscalationStep:
    after: timedelta
    notify: tuple[Target, ...]
    via: tuple[str, ...]


@dataclass(frozen=True)
class Escalation:
    until: str
    repeat: int
    steps: tuple[EscalationStep, ...]
    repeat_after: timedelta | None = None  # length of one round; None: derived from the steps
    urgent: tuple[str, ...] | None = None  # severities that ignore quiet hours; None: all


@dataclass(frozen=True)
class FreezeScope:
    channels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    incident_regions: bool = False  # ``regions: incident``: take the incident's regions


@dataclass(frozen=True)
class FreezeRule:
    on: str
    scope: FreezeScope
    on_lift: str = "review"
    cooldown: timedelta = timedelta(0)


@dataclass(frozen=True)
class Audience:
    name: str
    channels: tuple[str, ...]
    approval: str | None  # None: no approval; otherwise the role that approves
    two_person: bool = False
    public: bool = False
    fallback: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    approval_expires: timedelta | None = None
    backup_approver: str | None = None


@dataclass(frozen=True)
class Template:
    name: str
    audience: str
    body: Mapping[str, str]  # locale → text
    preapproved: tuple[str, ...] = ()
    subject: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    channels: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )  # channel → locale → text
    html: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # email HTML
    closing: bool = False  # a closing update: may be drafted and approved after resolution


@dataclass(frozen=True)
class Policy:
    forbid: tuple[Any, ...] = ()  # linear-time (RE2) patterns
    public_requires: tuple[str, ...] = ()
    max_length: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class MonitoringTrigger:
    source: str
    match: Mapping[str, str]
    severity: str | None = None  # a fixed severity
    severity_label: str | None = None
    severity_map: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    regions_label: str | None = None
    auto_resolve: bool = False
    draft: str | None = None  # template drafted (never sent) when this trigger declares


@dataclass(frozen=True)
class CapProfile:
    urgency: str
    severity: str
    certainty: str


@dataclass(frozen=True)
class Playbook:
    """One validated version of a playbook."""

    id: str
    name: str
    version: str
    source: str
    text: str
    severities: Mapping[str, str]
    states: tuple[str, ...]
    initial: str
    final: tuple[str, ...]
    transitions: tuple[Transition, ...]
    description: str = ""
    escalation: Escalation | None = None
    freeze: FreezeRule | None = None
    cadence: Mapping[str, timedelta] = field(default_factory=lambda: MappingProxyType({}))
    cadence_remind: tuple[str, ...] = (COMMS_LEAD_ROLE,)
    audiences: Mapping[str, Audience] = field(default_factory=lambda: MappingProxyType({}))
    templates: Mapping[str, Template] = field(default_factory=lambda: MappingProxyType({}))
    policy: Policy = field(default_factory=Policy)
    triggers: tuple[MonitoringTrigger, ...] = ()
    cap: Mapping[str, CapProfile] = field(default_factory=lambda: MappingProxyType({}))
    cap_category: str = "Infra"

    @property
    def short_version(self) -> str:
        return self.version[:12]

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        """The transitions whose source includes ``state``."""
        if state in self.final:
            return ()
        return tuple(t for t in self.transitions if state in t.sources or ANY_STATE in t.sources)

    def allowed_triggers(self, state: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions_from(state)))


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_TOP_KEYS = (
    "id",
    "name",
    "description",
    "severities",
    "states",
    "initial",
    "final",
    "transitions",
    "escalation",
    "freeze",
    "cadence",
    "audiences",
    "templates",
    "policy",
    "triggers",
    "cap",
)


def load_text(text: str, *, file: str, channels: Collection[str] | None = None) -> Playbook:
    """Validate playbook ``text``; ``channels`` (if given) are the configured channel names."""
    b = _Builder(Reader(file), channels)
    pb = b.build(text)
    if b.r.problems or pb is None:
        raise PlaybookInvalid(_sorted(b.r.problems))
    return pb


def load_file(path: Path, *, channels: Collection[str] | None = None) -> Playbook:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlaybookInvalid(
            [Problem(str(path), 1, 1, "(file)", f"not UTF-8 text: {exc.reason}")]
        ) from None
    return load_text(text, file=str(path), channels=channels)


def playbook_files(root: Path) -> list[Path]:
    """The playbook files at ``root``: the file itself, or ``*.yaml``/``*.yml`` in it."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_many(paths: list[Path], *, channels: Collection[str] | None = None) -> dict[str, Playbook]:
    """Load every playbook; raise one PlaybookInvalid listing every problem in every file."""
    problems: list[Problem] = []
    out: dict[str, Playbook] = {}
    files = [f for p in paths for f in playbook_files(p)]
    for f in files:
        try:
            pb = load_file(f, channels=channels)
        except PlaybookInvalid as exc:
            problems.extend(exc.problems)
            continue
        if pb.id in out:
            problems.append(
                Problem(
                    str(f),
                    _id_line(pb.text),
                    1,
                    "id",
                    f"duplicate playbook id {pb.id!r} (also in {out[pb.id].source})",
                )
            )
            continue
        out[pb.id] = pb
    if problems:
        raise PlaybookInvalid(problems)
    return out


def _id_line(text: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith("id:"):
            return i
    return 1


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line, p.col))


class _Builder:
    """Walk one playbook's node tree, collecting problems as it builds the dataclasses."""

    def __init__(self, reader: Reader, channels: Collection[str] | None) -> None:
        self.r = reader
        self.channels = channels
        self.severities: dict[str, str] = {}
        self.states: list[str] = []
        self.triggers: set[str] = set()
        self.template_names: set[str] = set()

    def build(self, text: str) -> Playbook | None:
        r = self.r
        root = r.compose(text)
        if root is None:
            return None
        top = r.keys(
            root,
            "",
            required=("id", "name", "severities", "states", "initial", "final", "transitions"),
            optional=_TOP_KEYS,
            partial=True,
        )
        if top is None:
            return None
        v = {k: n for k, (_, n) in top.items()}

        pid = r.name(v["id"], "id") if "id" in v else None
        name = r.string(v["name"], "name") if "name" in v else None
        description = (
            r.string(v["description"], "description", nonempty=False) if "description" in v else ""
        ) or ""
        if "severities" in v:
            self._severities(v["severities"])
        before = len(r.problems)
        if "states" in v:
            self._states(v["states"])
        initial = self._state_ref(v["initial"], "initial") if "initial" in v else None
        final = (
            tuple(s for s, n in r.names(v["final"], "final") if self._known_state(s, n, "final"))
            if "final" in v
            else ()
        )
        transitions = self._transitions(v["transitions"]) if "transitions" in v else ()
        self.triggers = {t.trigger for t in transitions}
        # Graph checks on a graph with broken edges only repeat those problems less clearly.
        if initial and "transitions" in v and len(r.problems) == before:
            self._check_graph(initial, final, transitions, v)

        escalation = self._escalation(v["escalation"]) if "escalation" in v else None
        freeze = self._freeze(v["freeze"]) if "freeze" in v else None
        cadence, remind = (
            self._cadence(v["cadence"]) if "cadence" in v else ({}, (COMMS_LEAD_ROLE,))
        )
        audiences = self._audiences(v["audiences"]) if "audiences" in v else {}
        templates = self._templates(v["templates"], audiences) if "templates" in v else {}
        policy = self._policy(v["policy"]) if "policy" in v else Policy()
        self.template_names = set(templates)
        triggers = self._monitoring(v["triggers"]) if "triggers" in v else ()
        cap, category = self._cap(v["cap"]) if "cap" in v else ({}, "Infra")

        if r.problems or pid is None or name is None or initial is None:
            return None
        return Playbook(
            id=pid,
            name=name,
            version=version_of(text),
            source=r.file,
            text=text,
            description=description,
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
            cap_category=category,
        )

    # --- lifecycle ------------------------------------------------------------------------
    def _severities(self, node: Node) -> None:
        m = self.r.mapping(node, "severities")
        if m is None:
            return
        for key, (key_node, value_node) in m.items():
            if self.r.name(key_node, f"severities.{key}") is None:
                continue
            label = self.r.string(value_node, f"severities.{key}")
            self.severities[key] = label or key
        if not m:
            self.r.problem(node, "severities", "name at least one severity")

    def _states(self, node: Node) -> None:
        seen: dict[str, Node] = {}
        for state, n in self.r.names(node, "states"):
            if state in seen:
                self.r.problem(n, "states", f"duplicate state {state!r}")
            elif state == ANY_STATE:
                self.r.problem(n, "states", "'*' is reserved for 'any state'")
            else:
                seen[state] = n
        self.states = list(seen)
        self._state_nodes = seen
        if not seen:
            self.r.problem(node, "states", "name at least one state")

    def _known_state(self, state: str, node: Node, path: str) -> bool:
        if state not in self.states:
            self.r.problem(
                node, path, f"unknown state {state!r} (states: {', '.join(self.states)})"
            )
            return False
        return True

    def _state_ref(self, node: Node, path: str) -> str | None:
        state = self.r.name(node, path)
        if state is not None and self._known_state(state, node, path):
            return state
        return None

    def _known_severity(self, sev: str, node: Node, path: str) -> bool:
        if sev not in self.severities:
            known = ", ".join(self.severities) or "none defined"
            self.r.problem(node, path, f"unknown severity {sev!r} (severities: {known})")
            return False
        return True

    def _transitions(self, node: Node) -> tuple[Transition, ...]:
        r = self.r
        out: list[Transition] = []
        seen: dict[tuple[str, str], int] = {}
        for i, item, path in iter_items(r, node, "transitions"):
            spec = r.keys(item, path, required=("trigger", "source", "dest"), optional=("role",))
            if spec is None:
                continue
            trigger = r.name(spec["trigger"][1], f"{path}.trigger")
            if trigger is not None and not trigger.isidentifier():
                r.problem(
                    spec["trigger"][1],
                    f"{path}.trigger",
                    "a trigger must be a Python identifier (letters, digits, _)",
                )
                trigger = None
            sources: list[str] = []
            src_items = r.sequence(spec["source"][1], f"{path}.source", allow_scalar=True) or []
            for j, n in enumerate(src_items):
                if literal(n) == ANY_STATE:
                    sources.append(ANY_STATE)
                    continue
                s = r.name(n, f"{path}.source[{j}]")
                if s is not None and self._known_state(s, n, f"{path}.source"):
                    sources.append(s)
            dest = self._state_ref(spec["dest"][1], f"{path}.dest")
            role = None
            if "role" in spec:
                role = r.name(spec["role"][1], f"{path}.role")
                if role is not None and role not in GUARD_ROLES:
                    r.problem(
                        spec["role"][1],
                        f"{path}.role",
                        f"unknown role {role!r} (expected one of: {', '.join(GUARD_ROLES)})",
                    )
                    role = None
            if trigger is None or dest is None or not sources:
                continue
            for s in sources:
                if (trigger, s) in seen:
                    r.problem(
                        spec["trigger"][1],
                        f"{path}.trigger",
                        f"trigger {trigger!r} from {s!r} is already defined at "
                        f"transitions[{seen[(trigger, s)]}]",
                    )
                seen[(trigger, s)] = i
            out.append(Transition(trigger, tuple(sources), dest, role))
        if not out and not r.problems:
            r.problem(node, "transitions", "define at least one transition")
        return tuple(out)

    def _check_graph(
        self,
        initial: str,
        final: tuple[str, ...],
        transitions: tuple[Transition, ...],
        v: dict[str, Node],
    ) -> None:
        r = self.r
        tnodes = r.sequence(v["transitions"], "transitions") or []
        for i, t in enumerate(transitions):
            bad = [s for s in t.sources if s in final]
            if bad and i < len(tnodes):
                r.problem(
                    tnodes[i],
                    f"transitions[{i}].source",
                    f"final state {bad[0]!r} cannot have outgoing transitions",
                )
        edges: dict[str, set[str]] = {s: set() for s in self.states}
        for t in transitions:
            sources = (
                [s for s in self.states if s not in final]
                if ANY_STATE in t.sources
                else [s for s in t.sources if s not in final]
            )
            for s in sources:
                edges.setdefault(s, set()).add(t.dest)
        reached = _reach(initial, edges)
        for s in self.states:
            if s not in reached:
                r.problem(
                    self._state_nodes[s], "states", f"state {s!r} is unreachable from {initial!r}"
                )
        if not final:
            r.problem(v.get("final"), "final", "name at least one final state")
            return
        reverse: dict[str, set[str]] = {s: set() for s in self.states}
        for s, dests in edges.items():
            for d in dests:
                reverse.setdefault(d, set()).add(s)
        can_finish: set[str] = set()
        for f in final:
            can_finish |= _reach(f, reverse)
        for s in self.states:
            if s in reached and s not in can_finish:
                r.problem(
                    self._state_nodes[s],
                    "states",
                    f"state {s!r} cannot reach a final state ({', '.join(final)})",
                )

    # --- escalation, freeze, cadence ------------------------------------------------------
    def _channel_ref(self, ch: str, node: Node, path: str) -> bool:
        if self.channels is not None and ch not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none"
            self.r.problem(node, path, f"channel {ch!r} is not configured (configured: {known})")
            return False
        return True

    def _escalation(self, node: Node) -> Escalation | None:
        r = self.r
        spec = r.keys(
            node,
            "escalation",
            required=("steps",),
            optional=("until", "repeat", "repeat_after", "urgent"),
        )
        if spec is None:
            return None
        until = "acknowledge"
        if "until" in spec:
            until = r.name(spec["until"][1], "escalation.until") or until
            if until not in self.triggers:
                r.problem(
                    spec["until"][1],
                    "escalation.until",
                    f"unknown trigger {until!r} (triggers: {', '.join(sorted(self.triggers))})",
                )
        elif "acknowledge" not in self.triggers:
            r.problem(
                node,
                "escalation.until",
                "no 'acknowledge' trigger: name the trigger that stops the ladder",
            )
        repeat = 0
        if "repeat" in spec:
            repeat = r.integer(spec["repeat"][1], "escalation.repeat") or 0
        steps: list[EscalationStep] = []
        last = timedelta(0)
        for _, item, path in (
            iter_items(r, spec["steps"][1], "escalation.steps") if "steps" in spec else ()
        ):
            s = r.keys(item, path, required=("after", "notify", "via"))
            if s is None:
                continue
            after = r.convert(s["after"][1], f"{path}.after", parse_duration)
            if after is not None and after < last:
                r.problem(
                    s["after"][1],
                    f"{path}.after",
                    "steps must be in order: this step is earlier than the one before",
                )
            last = after if after is not None else last
            targets: list[Target] = []
            for _, tnode, tpath in iter_items(r, s["notify"][1], f"{path}.notify"):
                t = r.mapping(tnode, tpath)
                if t is None:
                    continue
                if len(t) != 1 or next(iter(t)) not in ("role", "person"):
                    r.problem(tnode, tpath, "expected {role: NAME} or {person: NAME}")
                    continue
                kind, (_, vnode) = next(iter(t.items()))
                who = r.name(vnode, f"{tpath}.{kind}")
                if who is not None:
                    targets.append(Target("role" if kind == "role" else "person", who))
            via = [
                c
                for c, n in r.names(s["via"][1], f"{path}.via")
                if self._channel_ref(c, n, f"{path}.via")
            ]
            if after is not None and targets and via:
                steps.append(EscalationStep(after, tuple(targets), tuple(via)))
        repeat_after = None
        if "repeat_after" in spec:
            repeat_after = r.convert(
                spec["repeat_after"][1], "escalation.repeat_after", parse_duration
            )
            if repeat_after is not None and steps and repeat_after <= steps[-1].after:
                r.problem(
                    spec["repeat_after"][1],
                    "escalation.repeat_after",
                    "a round must last longer than its last step's 'after'",
                )
        urgent = None
        if "urgent" in spec:
            urgent = tuple(
                s
                for s, n in r.names(spec["urgent"][1], "escalation.urgent")
                if self._known_severity(s, n, "escalation.urgent")
            )
        return Escalation(until, repeat, tuple(steps), repeat_after, urgent)

    def _freeze(self, node: Node) -> FreezeRule | None:
        r = self.r
        spec = r.keys(node, "freeze", required=("scope",), optional=("on", "on_lift", "cooldown"))
        if spec is None:
            return None
        on = self.states[0] if self.states else "declared"
        if "on" in spec:
            on = self._state_ref(spec["on"][1], "freeze.on") or on
        on_lift = "review"
        if "on_lift" in spec:
            value = r.name(spec["on_lift"][1], "freeze.on_lift")
            if value is not None and value not in ON_LIFT:
                r.problem(
                    spec["on_lift"][1],
                    "freeze.on_lift",
                    f"expected one of {', '.join(ON_LIFT)}, got {value!r}",
                )
            elif value is not None:
                on_lift = value
        cooldown = timedelta(0)
        if "cooldown" in spec:
            cooldown = r.convert(spec["cooldown"][1], "freeze.cooldown", parse_duration) or cooldown
        scope = FreezeScope()
        if "scope" in spec:
            sc = r.keys(spec["scope"][1], "freeze.scope", optional=("channels", "tags", "regions"))
            if sc is not None:
                chans = (
                    tuple(
                        c
                        for c, n in r.names(sc["channels"][1], "freeze.scope.channels")
                        if self._channel_ref(c, n, "freeze.scope.channels")
                    )
                    if "channels" in sc
                    else ()
                )
                tags = (
                    tuple(t for t, _ in r.names(sc["tags"][1], "freeze.scope.tags"))
                    if "tags" in sc
                    else ()
                )
                regions: tuple[str, ...] = ()
                from_incident = False
                if "regions" in sc:
                    if scalar_value(sc["regions"][1]) == "incident":
                        from_incident = True
                    else:
                        regions = tuple(
                            x for x, _ in r.names(sc["regions"][1], "freeze.scope.regions")
                        )
                if not (chans or tags or regions or from_incident):
                    r.problem(
                        spec["scope"][1],
                        "freeze.scope",
                        "an empty scope would freeze everything: name channels, tags or regions",
                    )
                scope = FreezeScope(chans, tags, regions, from_incident)
        return FreezeRule(on, scope, on_lift, cooldown)

    def _cadence(self, node: Node) -> tuple[dict[str, timedelta], tuple[str, ...]]:
        out: dict[str, timedelta] = {}
        remind: tuple[str, ...] = (COMMS_LEAD_ROLE,)
        for sev, (key_node, value_node) in (self.r.mapping(node, "cadence") or {}).items():
            path = f"cadence.{sev}"
            if sev == "remind":
                remind = tuple(n for n, _ in self.r.names(value_node, path)) or remind
                continue
            if not self._known_severity(sev, key_node, path):
                continue
            d = self.r.convert(value_node, path, parse_duration)
            if d is not None and d <= timedelta(0):
                self.r.problem(value_node, path, "a cadence must be longer than zero")
            elif d is not None:
                out[sev] = d
        return out, remind

    # --- audiences, templates, policy -----------------------------------------------------
    def _audiences(self, node: Node) -> dict[str, Audience]:
        r = self.r
        out: dict[str, Audience] = {}
        for name, (key_node, value_node) in (r.mapping(node, "audiences") or {}).items():
            path = f"audiences.{name}"
            if r.name(key_node, path) is None:
                continue
            spec = r.keys(
                value_node,
                path,
                required=("channels",),
                optional=(
                    "approval",
                    "two_person",
                    "public",
                    "fallback",
                    "approval_expires",
                    "backup_approver",
                ),
            )
            if spec is None:
                continue
            chans = tuple(
                c
                for c, n in r.names(spec["channels"][1], f"{path}.channels")
                if self._channel_ref(c, n, f"{path}.channels")
            )
            approval: str | None = None
            if "approval" in spec:
                approval = r.name(spec["approval"][1], f"{path}.approval")
                approval = None if approval in (None, "none") else approval
            two = (
                r.boolean(spec["two_person"][1], f"{path}.two_person")
                if "two_person" in spec
                else False
            )
            if two and approval is None:
                r.problem(
                    spec["two_person"][1],
                    f"{path}.two_person",
                    "two_person needs an approval role (approval: none approves nothing)",
                )
            public = r.boolean(spec["public"][1], f"{path}.public") if "public" in spec else None
            if public is None:
                public = "status_page" in chans
            fallback: dict[str, str] = {}
            if "fallback" in spec:
                for src, (fk, fv) in (
                    r.mapping(spec["fallback"][1], f"{path}.fallback") or {}
                ).items():
                    dst = r.name(fv, f"{path}.fallback.{src}")
                    for ch, n in ((src, fk), (dst, fv)):
                        if ch is not None and ch not in chans:
                            r.problem(
                                n,
                                f"{path}.fallback",
                                f"{ch!r} is not one of this audience's channels",
                            )
                    if dst is not None:
                        fallback[src] = dst
            expires = (
                r.convert(spec["approval_expires"][1], f"{path}.approval_expires", parse_duration)
                if "approval_expires" in spec
                else None
            )
            backup = (
                r.name(spec["backup_approver"][1], f"{path}.backup_approver")
                if "backup_approver" in spec
                else None
            )
            out[name] = Audience(
                name,
                chans,
                approval,
                bool(two),
                bool(public),
                MappingProxyType(fallback),
                expires,
                backup,
            )
        return out

    def _localized(self, node: Node, path: str) -> dict[str, str]:
        """A text, or a mapping of locale → text; each is checked as a template."""
        r = self.r
        pairs: list[tuple[str, str, Node]] = []
        if isinstance(node, ScalarNode):
            text = r.string(node, path)
            if text is not None:
                pairs.append((DEFAULT_LOCALE, text, node))
        else:
            for loc, (kn, vn) in (r.mapping(node, path) or {}).items():
                if len(loc) < 2 or len(loc) > 8 or not loc.replace("-", "").isalpha():
                    r.problem(kn, f"{path}.{loc}", "expected a locale such as en or fr-BE")
                    continue
                text = r.string(vn, f"{path}.{loc}")
                if text is not None:
                    pairs.append((loc, text, vn))
        out: dict[str, str] = {}
        for loc, text, n in pairs:
            found = check_template(text)
            if found is not None:
                line, message = found
                offset = 1 if getattr(n, "style", None) in ("|", ">") else 0
                r.problems.append(
                    Problem(
                        r.file,
                        n.start_mark.line + offset + line,
                        n.start_mark.column + 1,
                        path,
                        message,
                    )
                )
                continue
            out[loc] = text
        return out

    def _templates(self, node: Node, audiences: dict[str, Audience]) -> dict[str, Template]:
        r = self.r
        out: dict[str, Template] = {}
        for name, (key_node, value_node) in (r.mapping(node, "templates") or {}).items():
            path = f"templates.{name}"
            if r.name(key_node, path) is None:
                continue
            spec = r.keys(
                value_node,
                path,
                required=("audience", "body"),
                optional=("preapproved", "subject", "channels", "html", "closing"),
            )
            if spec is None:
                continue
            audience = r.name(spec["audience"][1], f"{path}.audience")
            if audience is not None and audience not in audiences:
                r.problem(
                    spec["audience"][1],
                    f"{path}.audience",
                    f"unknown audience {audience!r} (audiences: {', '.join(audiences)})",
                )
                audience = None
            pre = (
                tuple(
                    s
                    for s, n in r.names(spec["preapproved"][1], f"{path}.preapproved")
                    if self._known_severity(s, n, f"{path}.preapproved")
                )
                if "preapproved" in spec
                else ()
            )
            body = self._localized(spec["body"][1], f"{path}.body")
            subject = (
                self._localized(spec["subject"][1], f"{path}.subject") if "subject" in spec else {}
            )
            html = self._localized(spec["html"][1], f"{path}.html") if "html" in spec else {}
            closing = bool(
                r.boolean(spec["closing"][1], f"{path}.closing") if "closing" in spec else False
            )
            per_channel: dict[str, Mapping[str, str]] = {}
            if "channels" in spec:
                for ch, (kn, vn) in (
                    r.mapping(spec["channels"][1], f"{path}.channels") or {}
                ).items():
                    if audience is not None and ch not in audiences[audience].channels:
                        r.problem(
                            kn,
                            f"{path}.channels.{ch}",
                            f"audience {audience!r} does not use channel {ch!r}",
                        )
                        continue
                    per_channel[ch] = MappingProxyType(self._localized(vn, f"{path}.channels.{ch}"))
            if audience is not None and body:
                out[name] = Template(
                    name,
                    audience,
                    MappingProxyType(body),
                    pre,
                    MappingProxyType(subject),
                    MappingProxyType(per_channel),
                    MappingProxyType(html),
                    closing,
                )
        return out

    def _policy(self, node: Node) -> Policy:
        r = self.r
        spec = r.keys(node, "policy", optional=("forbid", "public_requires", "max_length"))
        if spec is None:
            return Policy()
        forbid: list[Any] = []
        if "forbid" in spec:
            for _, item, path in iter_items(r, spec["forbid"][1], "policy.forbid"):
                pattern = r.string(item, path)
                if pattern is None:
                    continue
                try:
                    forbid.append(linear.pattern(pattern))
                except linear.PatternError as exc:
                    r.problem(
                        item,
                        path,
                        f"not a valid regular expression for a linear-time matcher (RE2: no "
                        f"backreferences or lookaround): {exc}",
                    )
        requires: list[str] = []
        if "public_requires" in spec:
            for req, n in r.names(spec["public_requires"][1], "policy.public_requires"):
                if req not in PUBLIC_REQUIREMENTS:
                    r.problem(
                        n,
                        "policy.public_requires",
                        f"unknown requirement {req!r} (known: {', '.join(PUBLIC_REQUIREMENTS)})",
                    )
                else:
                    requires.append(req)
        lengths: dict[str, int] = {}
        if "max_length" in spec:
            for ch, (kn, vn) in (
                r.mapping(spec["max_length"][1], "policy.max_length") or {}
            ).items():
                if not self._channel_ref(ch, kn, f"policy.max_length.{ch}"):
                    continue
                limit = r.integer(vn, f"policy.max_length.{ch}", minimum=1)
                if limit is not None:
                    lengths[ch] = limit
        return Policy(tuple(forbid), tuple(requires), MappingProxyType(lengths))

    def _monitoring(self, node: Node) -> tuple[MonitoringTrigger, ...]:
        r = self.r
        out: list[MonitoringTrigger] = []
        for _, item, path in iter_items(r, node, "triggers"):
            spec = r.keys(
                item,
                path,
                required=("source", "match", "severity"),
                optional=("regions", "auto_resolve", "draft"),
            )
            if spec is None:
                continue
            source = r.name(spec["source"][1], f"{path}.source")
            if source is not None and source not in TRIGGER_SOURCES:
                r.problem(
                    spec["source"][1],
                    f"{path}.source",
                    f"unknown source {source!r} (known: {', '.join(TRIGGER_SOURCES)})",
                )
            match: dict[str, str] = {}
            for label, (_, vn) in (r.mapping(spec["match"][1], f"{path}.match") or {}).items():
                value = scalar_value(vn)
                if value is None or not isinstance(value, str | int):
                    r.problem(vn, f"{path}.match.{label}", "expected a label value")
                else:
                    match[label] = str(value)
            if not match:
                r.problem(spec["match"][1], f"{path}.match", "match at least one label")
            fixed: str | None = None
            label_name: str | None = None
            sev_map: dict[str, str] = {}
            sev_node = spec["severity"][1]
            if isinstance(sev_node, ScalarNode):
                fixed = r.name(sev_node, f"{path}.severity")
                if fixed is not None and not self._known_severity(
                    fixed, sev_node, f"{path}.severity"
                ):
                    fixed = None
            else:
                sv = r.keys(sev_node, f"{path}.severity", required=("label", "map"))
                if sv is not None:
                    label_name = r.string(sv["label"][1], f"{path}.severity.label")
                    for lv, (_, mv) in (
                        r.mapping(sv["map"][1], f"{path}.severity.map") or {}
                    ).items():
                        sev = r.name(mv, f"{path}.severity.map.{lv}")
                        if sev is not None and self._known_severity(
                            sev, mv, f"{path}.severity.map.{lv}"
                        ):
                            sev_map[lv] = sev
            regions_label = None
            if "regions" in spec:
                rg = r.keys(spec["regions"][1], f"{path}.regions", required=("label",))
                if rg is not None:
                    regions_label = r.string(rg["label"][1], f"{path}.regions.label")
            auto = (
                r.boolean(spec["auto_resolve"][1], f"{path}.auto_resolve")
                if "auto_resolve" in spec
                else False
            )
            draft: str | None = None
            if "draft" in spec:
                draft = r.name(spec["draft"][1], f"{path}.draft")
                if draft is not None and draft not in self.template_names:
                    r.problem(
                        spec["draft"][1],
                        f"{path}.draft",
                        f"unknown template {draft!r} (templates: "
                        f"{', '.join(sorted(self.template_names)) or 'none'})",
                    )
                    draft = None
            elif "holding" in self.template_names:
                draft = "holding"
            if source is not None and source in TRIGGER_SOURCES:
                out.append(
                    MonitoringTrigger(
                        source,
                        MappingProxyType(match),
                        fixed,
                        label_name,
                        MappingProxyType(sev_map),
                        regions_label,
                        bool(auto),
                        draft,
                    )
                )
        return tuple(out)

    def _cap(self, node: Node) -> tuple[dict[str, CapProfile], str]:
        r = self.r
        out: dict[str, CapProfile] = {}
        category = "Infra"
        for key, (kn, vn) in (r.mapping(node, "cap") or {}).items():
            if key == "category":
                category = r.string(vn, "cap.category") or category
                continue
            path = f"cap.{key}"
            if not self._known_severity(key, kn, path):
                continue
            spec = r.keys(vn, path, required=("urgency", "severity", "certainty"))
            if spec is None:
                continue
            values: list[str] = []
            for field_name, allowed in (
                ("urgency", CAP_URGENCY),
                ("severity", CAP_SEVERITY),
                ("certainty", CAP_CERTAINTY),
            ):
                value = r.string(spec[field_name][1], f"{path}.{field_name}")
                if value is not None and value not in allowed:
                    r.problem(
                        spec[field_name][1],
                        f"{path}.{field_name}",
                        f"expected one of {', '.join(allowed)} (CAP 1.2), got {value!r}",
                    )
                    value = None
                values.append(value or "")
            if all(values):
                out[key] = CapProfile(*values)
        return out, category


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
