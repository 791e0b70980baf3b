"""The checks of a playbook's content: audiences, templates (each compiled in the sandbox),
policy, monitoring triggers and CAP profiles — on the validated model, every problem located."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.kernel import linear
from engine.kernel.durations import parse_duration
from engine.kernel.errors import Problem
from engine.playbooks.located import Loc
from engine.playbooks.playbook import (
    DEFAULT_LOCALE,
    Audience,
    CapProfile,
    MonitoringTrigger,
    Policy,
    Template,
)
from engine.playbooks.templating import check_template

DEFAULT_RESOLVED = "{{ incident.title }}: this is now resolved. This is our last update about it."

if TYPE_CHECKING:
    from engine.playbooks.checks import Checks


class Content:
    """Audiences, templates, policy, monitoring triggers and CAP profiles."""

    def __init__(self, checks: Checks) -> None:
        self.c = checks
        self.spec = checks.spec

    def audiences(self) -> dict[str, Audience]:
        out: dict[str, Audience] = {}
        for name, a in self.spec.audiences.items():
            path, loc = f"audiences.{name}", ("audiences", name)
            chans = self.c.channel_list(a.channels, (*loc, "channels"), f"{path}.channels")
            approval = None if a.approval in (None, "none") else a.approval
            if a.two_person and approval is None:
                self.c.problem(
                    (*loc, "two_person"),
                    f"{path}.two_person",
                    "two_person needs an approval role (approval: none approves nothing)",
                )
            public = a.public if a.public is not None else "status_page" in chans
            for src, dst in a.fallback.items():
                for ch, key in ((src, True), (dst, False)):
                    if ch not in chans:
                        self.c.problem(
                            (*loc, "fallback", src),
                            f"{path}.fallback",
                            f"{ch!r} is not one of this audience's channels",
                            key=key,
                        )
            out[name] = Audience(
                name,
                chans,
                approval,
                a.two_person,
                public,
                MappingProxyType(dict(a.fallback)),
                parse_duration(a.approval_expires) if a.approval_expires else None,
                a.backup_approver,
            )
        return out

    def localized(self, value: str | dict[str, str] | None, loc: Loc, path: str) -> dict[str, str]:
        """Each text of a localized value, checked as a template (None: not written)."""
        if value is None:
            return {}
        pairs = (
            [(DEFAULT_LOCALE, value, loc)]
            if isinstance(value, str)
            else [(lang, text, (*loc, lang)) for lang, text in value.items()]
        )
        out: dict[str, str] = {}
        for lang, text, where in pairs:
            found = check_template(text)
            if found is None:
                out[lang] = text
                continue
            line, message = found
            node = self.c.located.node(where)
            reader = self.c.located.reader
            offset = 1 if getattr(node, "style", None) in ("|", ">") else 0
            mark = node.start_mark if node is not None else None
            reader.problems.append(
                Problem(
                    reader.file,
                    (mark.line if mark else 0) + offset + line,
                    (mark.column if mark else 0) + 1,
                    path,
                    message,
                )
            )
        return out

    def templates(self, audiences: dict[str, Audience]) -> dict[str, Template]:
        out: dict[str, Template] = {}
        for name, t in self.spec.templates.items():
            path, loc = f"templates.{name}", ("templates", name)
            audience: str | None = t.audience
            if "audiences" not in self.c.valid:
                audience = None  # the audiences did not pass the format: nothing to match
            elif t.audience not in audiences:
                self.c.problem(
                    (*loc, "audience"),
                    f"{path}.audience",
                    f"unknown audience {t.audience!r} (audiences: {', '.join(audiences)})",
                )
                audience = None
            pre = self.c.severity_list(t.preapproved, (*loc, "preapproved"), f"{path}.preapproved")
            body = self.localized(t.body, (*loc, "body"), f"{path}.body")
            subject = self.localized(t.subject, (*loc, "subject"), f"{path}.subject")
            html = self.localized(t.html, (*loc, "html"), f"{path}.html")
            per_channel: dict[str, Mapping[str, str]] = {}
            for ch, texts in t.channels.items():
                where = f"{path}.channels.{ch}"
                if audience is not None and ch not in audiences[audience].channels:
                    message = f"audience {audience!r} does not use channel {ch!r}"
                    self.c.problem((*loc, "channels", ch), where, message, key=True)
                    continue
                per_channel[ch] = MappingProxyType(
                    self.localized(texts, (*loc, "channels", ch), where)
                )
            if audience is not None and body:
                out[name] = Template(
                    name,
                    audience,
                    MappingProxyType(body),
                    pre,
                    MappingProxyType(subject),
                    MappingProxyType(per_channel),
                    MappingProxyType(html),
                    t.closing,
                )
        return out

    def resolutions(
        self, audiences: dict[str, Audience], templates: dict[str, Template]
    ) -> dict[str, str]:
        """Audience → the closing template drafted for it when the incident resolves.

        Everyone who heard about an incident hears that it is over: an audience names its
        ``resolved`` template, or gets its closing template, or a short default (added to
        ``templates`` as ``<audience>-resolved``).
        """
        out: dict[str, str] = {}
        for name, a in self.spec.audiences.items():
            if name not in audiences or a.resolved == "none":
                continue
            chosen, loc = a.resolved, ("audiences", name, "resolved")
            if chosen is not None:
                problem = self._resolution_problem(name, templates.get(chosen), chosen)
                if problem:
                    self.c.problem(loc, f"audiences.{name}.resolved", problem)
                else:
                    out[name] = chosen
                continue
            closing = [t.name for t in templates.values() if t.audience == name and t.closing]
            default = closing[0] if closing else f"{name}-resolved"
            if default not in templates:
                body = MappingProxyType({DEFAULT_LOCALE: DEFAULT_RESOLVED})
                templates[default] = Template(default, name, body, closing=True)
            out[name] = default
        return out

    def _resolution_problem(self, audience: str, t: Template | None, name: str) -> str | None:
        if "templates" not in self.c.valid:
            return None  # the templates did not pass the format: the name cannot be checked
        if t is None:
            return f"unknown template {name!r}"
        if t.audience != audience:
            return f"template {name!r} is for {t.audience}"
        if not t.closing:
            return f"template {name!r} must say closing: true (it goes out after resolution)"
        return None

    def policy(self) -> Policy:
        p = self.spec.policy
        forbid: list[Any] = []
        for i, pattern in enumerate(p.forbid):
            try:
                forbid.append(linear.pattern(pattern))
            except linear.PatternError as exc:
                self.c.problem(
                    ("policy", "forbid", i),
                    f"policy.forbid[{i}]",
                    f"not a valid regular expression for a linear-time matcher (RE2: no "
                    f"backreferences or lookaround): {exc}",
                )
        lengths = {
            ch: n
            for ch, n in p.max_length.items()
            if self.c.configured(
                ch, ("policy", "max_length", ch), f"policy.max_length.{ch}", key=True
            )
        }
        return Policy(tuple(forbid), tuple(p.public_requires), MappingProxyType(lengths))

    def triggers(self, templates: set[str]) -> tuple[MonitoringTrigger, ...]:
        out: list[MonitoringTrigger] = []
        for i, t in enumerate(self.spec.triggers):
            path, loc = f"triggers[{i}]", ("triggers", i)
            if not t.match:
                self.c.problem((*loc, "match"), f"{path}.match", "match at least one label")
            fixed, label, sev_map = None, None, {}
            if isinstance(t.severity, str):
                ok = self.c.known_severity(t.severity, (*loc, "severity"), f"{path}.severity")
                fixed = t.severity if ok else None
            else:
                label = t.severity.label
                for value, sev in t.severity.map.items():
                    where = f"{path}.severity.map.{value}"
                    if self.c.known_severity(sev, (*loc, "severity", "map", value), where):
                        sev_map[value] = sev
            draft = t.draft
            if "templates" not in self.c.valid:
                pass  # the templates did not pass the format: the name cannot be checked
            elif draft is not None and draft not in templates:
                known = ", ".join(sorted(templates)) or "none"
                self.c.problem(
                    (*loc, "draft"),
                    f"{path}.draft",
                    f"unknown template {draft!r} (templates: {known})",
                )
                draft = None
            elif draft is None and "holding" in templates:
                draft = "holding"
            out.append(
                MonitoringTrigger(
                    t.source,
                    MappingProxyType(dict(t.match)),
                    fixed,
                    label,
                    MappingProxyType(sev_map),
                    t.regions.label if t.regions else None,
                    t.auto_resolve,
                    draft,
                )
            )
        return tuple(out)

    def cap(self) -> dict[str, CapProfile]:
        out: dict[str, CapProfile] = {}
        for sev, profile in (self.spec.cap.model_extra or {}).items():
            if self.c.known_severity(sev, ("cap", sev), f"cap.{sev}", key=True):
                out[sev] = CapProfile(profile.urgency, profile.severity, profile.certainty)
        return out
