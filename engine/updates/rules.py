"""Operational updates as plain decisions: render, count SMS segments, check the policy,
decide who may approve. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from engine.kernel import linear
from engine.kernel.lengths import TextLimit
from engine.kernel.roles import Perm, may, satisfies
from engine.playbooks.playbook import DEFAULT_LOCALE, Audience, Playbook, Template
from engine.playbooks.templating import environment, undeclared_variables

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = set("^{}\\[~]|€")


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (GSM-7: 160/153 chars; UCS-2: 70/67)."""
    if all(c in GSM7 or c in GSM7_EXT for c in text):
        units = sum(2 if c in GSM7_EXT else 1 for c in text)
        return 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    return 1 if units <= 70 else -(-units // 67)


@dataclass(frozen=True)
class Rendered:
    """What one channel will send."""

    text: str
    subject: str | None = None
    segments: int | None = None
    cites_next_update: bool = False  # the text states when the next update is due
    html: str | None = None  # an email's HTML part, when the template has one
    empty: tuple[str, ...] = ()  # variables the template shows that have no value


CLOCK_TIME = linear.pattern(r"\b([01]?\d|2[0-3])[:h.]\s?[0-5]\d\b")


# A clock time, then (optionally) a.m./p.m., then (optionally) what says its zone: an
# abbreviation (GMT, CET, UTC), an offset (+01:00) or Z.
ZONED_TIME = linear.pattern(
    r"\b(?:[01]?\d|2[0-3])[:h.]\s?[0-5]\d\b(?:\s?[AaPp]\.?[Mm]\b\.?)?"
    r"(\s?(?:[A-Z]{2,5}\b|[+-]\d{2}:?\d{2}\b|Z\b))?"
)


def times_without_zone(text: str) -> list[str]:
    """The clock times in ``text`` that do not say their time zone ("12:15", not "12:15
    GMT"): a reader in another zone, or a subscriber who gets two languages' times, cannot
    tell what they mean."""
    return [
        m.group(0).strip() for m in ZONED_TIME.finditer(linear.safe_text(text)) if not m.group(1)
    ]


def cites_next_update(text: str) -> bool:
    """Free text: it names a time of day, or says "next update" in so many words."""
    return bool(CLOCK_TIME.search(linear.safe_text(text))) or "next update" in text.lower()


def _pick(variants: Mapping[str, str], locale: str) -> str:
    return variants.get(locale) or variants.get(DEFAULT_LOCALE) or next(iter(variants.values()))


CORRECTION = {"en": "Correction:", "fr": "Rectificatif :", "de": "Korrektur:", "nl": "Correctie:"}


def correction_texts(
    body: str, *, locale: str, channels: Sequence[str], edits_in_place: Sequence[str]
) -> dict[str, str]:
    """What a correction says on each channel: the corrected text itself where the published
    post is edited in place, else the text under the locale's "Correction:"."""
    word = CORRECTION.get(locale.split("-")[0].lower(), CORRECTION["en"])
    text = body.strip()
    return {ch: text if ch in edits_in_place else f"{word} {text}" for ch in channels}


def render(
    *,
    playbook: Playbook,
    audience: Audience,
    template: Template | None,
    free_text: str | None,
    channel_texts: Mapping[str, str] | None,
    locale: str,
    variables: Mapping[str, Any],
    media: Mapping[str, str],
) -> dict[str, Rendered]:
    """Render the update for each of the audience's channels.

    A template renders in the sandbox with the incident variables (its per-channel variant
    where it has one); free text given with a template is its ``note``: where the template
    does not place ``{{ note }}`` itself, the note follows its text on a line of its own.
    Free text alone is sent as written. ``channel_texts`` (a revision's per-channel edits) win
    over all of these.
    """
    env = environment()
    note = (free_text or "").strip()
    variables = {**variables, "note": note}
    out: dict[str, Rendered] = {}
    for ch in audience.channels:
        subject = None
        html: str | None = None
        empty: tuple[str, ...] = ()
        if channel_texts and ch in channel_texts:
            text = channel_texts[ch]
            cites = cites_next_update(text)
        elif template is not None:
            source = (
                _pick(template.channels[ch], locale)
                if ch in template.channels
                else _pick(template.body, locale)
            )
            text = env.from_string(source).render(**variables).strip()
            used = undeclared_variables(source)
            if note and "note" not in used:
                text = f"{text}\n{note}" if text else note
            cites = "next_update_at" in used
            empty = empty_variables(source, variables)
            if template.html and media.get(ch) in ("email", "newsletter"):
                # Autoescaped: incident fields cannot inject markup into the HTML part.
                html_env = environment().overlay(autoescape=True)
                html = html_env.from_string(_pick(template.html, locale)).render(**variables)
            if template.subject:
                subject = (
                    env.from_string(_pick(template.subject, locale)).render(**variables).strip()
                )
        else:
            text = (free_text or "").strip()
            cites = cites_next_update(text)
        medium = media.get(ch, "")
        segments = sms_segments(text) if medium == "sms" else None
        out[ch] = Rendered(text, subject, segments, cites, html, empty)
    return out


ANY = frozenset({"*"})  # every use under it is guarded


def _shown(node: nodes.Node, safe: frozenset[str], found: dict[str, bool]) -> None:
    """Collect the variable paths (``incident.summary``) under ``node``; ``found`` maps each
    to whether every use of it is guarded (``safe``: the paths guarded here): inside an
    ``if`` (or ``… if … else``) that tests it, or as the left of an ``or`` with a fallback."""
    if isinstance(node, nodes.If | nodes.CondExpr):
        tested: dict[str, bool] = {}
        _shown(node.test, ANY, tested)
        for path in tested:
            found.setdefault(path, True)
        inner = safe | frozenset(tested)
        then = node.body if isinstance(node, nodes.If) else [node.expr1]
        for child in then:
            _shown(child, inner, found)
        rest: list[nodes.Node | None] = (
            [*node.elif_, *node.else_] if isinstance(node, nodes.If) else [node.expr2]
        )
        for other in rest:
            if other is not None:
                _shown(other, safe, found)
        return
    if isinstance(node, nodes.Or):  # `x or "a fallback"`: x may be empty
        _shown(node.left, ANY, found)
        _shown(node.right, safe, found)
        return
    shown = _path(node)
    if shown is not None:
        found[shown] = found.get(shown, True) and (safe is ANY or shown in safe)
        return
    for child in node.iter_child_nodes():
        _shown(child, safe, found)


def _path(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return node.name
    if isinstance(node, nodes.Getattr):
        base = _path(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _path(node.node)
        return f"{base}.{node.arg.value}" if base else None
    return None


def _value(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return ...  # not a plain value (a method, a loop variable): not ours to judge
        value = value[part]
    return value


def empty_variables(source: str, variables: Mapping[str, Any]) -> tuple[str, ...]:
    """The variables ``source`` shows (outside an ``if`` that tests them) that are empty: an
    incident without a summary would render "…stopped:  Next update by 11:57.". The note is
    optional by nature and never counts."""
    found: dict[str, bool] = {}
    _shown(environment().parse(source), frozenset(), found)
    return tuple(
        path
        for path, guarded in sorted(found.items())
        if not guarded
        and path != "note"
        and not any(other.startswith(path + ".") for other in found)
        and _value(variables, path) in (None, "", [], ())
    )


def violations(
    *,
    playbook: Playbook,
    audience: Audience,
    rendered: Mapping[str, Rendered],
    media: Mapping[str, str],
    closing: bool = False,
    limits: Mapping[str, TextLimit] | None = None,
) -> list[dict[str, str]]:
    """Every breach of the playbook's rules of engagement, per channel, and every text longer
    than its platform takes (``limits``: channel → the platform's limit, counted its way).

    A closing update (the last word after resolution) need not promise a next update.
    """
    out: list[dict[str, str]] = []
    policy = playbook.policy
    for ch, r in rendered.items():
        for pattern in policy.forbid:
            found = pattern.search(linear.safe_text(r.text)) or (
                r.subject and pattern.search(linear.safe_text(r.subject))
            )
            if found:
                out.append(
                    {
                        "channel": ch,
                        "rule": "forbid",
                        "message": f"contains {found.group(0)!r}, which the playbook forbids",
                    }
                )
        limit = policy.max_length.get(ch) or policy.max_length.get(media.get(ch, ""))
        if limit and len(r.text) > limit:
            out.append(
                {
                    "channel": ch,
                    "rule": "max_length",
                    "message": f"{len(r.text)} characters; the limit is {limit}",
                }
            )
        platform = (limits or {}).get(ch)
        if platform and (problem := platform.problem(r.text)):
            out.append({"channel": ch, "rule": "platform_limit", "message": problem})
        if audience.public and not closing and "next_update" in policy.public_requires:
            if not r.cites_next_update:
                out.append(
                    {
                        "channel": ch,
                        "rule": "public_requires",
                        "message": "a public update must say when the next update is due",
                    }
                )
        if audience.public and "time_zone" in policy.public_requires:
            for bare in dict.fromkeys(times_without_zone(r.text)):
                out.append(
                    {
                        "channel": ch,
                        "rule": "time_zone",
                        "message": f"{bare!r} does not say its time zone: write {bare} GMT "
                        "(or CET, UTC…), or let the template print it with local_time",
                    }
                )
        if not r.text:
            out.append({"channel": ch, "rule": "empty", "message": "nothing to send"})
        for name in r.empty:
            out.append(
                {
                    "channel": ch,
                    "rule": "empty_variable",
                    "message": f"the template shows {name}, which is empty: fill it in "
                    "(edit the incident) or write the text",
                }
            )
    return out


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def may_approve(
    *,
    audience: Audience,
    approver: str,
    approver_role: str,
    approver_roster_roles: Sequence[str],
    authors: Sequence[str],
    has_violations: bool,
    override_reason: str | None,
) -> Verdict:
    """Whether this person may approve this revision now.

    ``authors`` is everyone who wrote any revision: under the two-person rule none of them may
    approve, or rewriting a colleague's draft would let one person publish alone. An audience
    whose playbook asks no approval is still published only by someone holding the publish
    permission, and the policy applies to every audience.
    """
    need = audience.approval
    if need is None:
        if not may(approver_role, Perm.PUBLISH):
            return Verdict(False, f"publishing to {audience.name} needs the operator role")
    else:
        holds = (
            satisfies(approver_role, need)
            or need in approver_roster_roles
            or approver_role == "admin"
        )
        if not holds:
            return Verdict(False, f"approving for {audience.name} needs the {need} role")
        if audience.two_person and approver in authors:
            return Verdict(
                False, "two-person rule: nobody who wrote a revision of this update may approve it"
            )
    if has_violations and not (override_reason and override_reason.strip()):
        return Verdict(
            False, "the update breaks the playbook's policy: fix it, or override with a reason"
        )
    if has_violations and not satisfies(approver_role, "comms_lead"):
        return Verdict(False, "only a comms lead may override the policy")
    return Verdict(True)
