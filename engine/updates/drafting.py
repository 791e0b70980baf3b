"""Drafting an update as a decision over the store's rows: check what was asked, render it
for each channel, check the policy, and say before anything is written what would happen
(``preview``: what goes where, to how many, and whether it goes out at once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.kernel.errors import ValidationFailed
from engine.kernel.models import Incident
from engine.kernel.roles import Perm, may
from engine.playbooks.channels import PERSONAL_MEDIA, Channel, text_limits
from engine.playbooks.places import NO_PLACES, Places
from engine.playbooks.playbook import Audience, Playbook, Template
from engine.updates import locales
from engine.updates.reach import reach
from engine.updates.rules import Rendered, render, violations


def check(
    pb: Playbook,
    inc: Row[Any],
    *,
    audience: str,
    template: str | None,
    body: str | None,
    corrects: int | None = None,
) -> tuple[Audience | None, dict[str, str]]:
    """The audience, and every problem with what was asked (empty: it can be drafted)."""
    aud = pb.audiences.get(audience)
    problems: dict[str, str] = {}
    if aud is None:
        problems["audience"] = f"unknown audience (audiences: {', '.join(pb.audiences)})"
    if template and template not in pb.templates:
        problems["template"] = f"unknown template (templates: {', '.join(pb.templates)})"
    elif template and aud is not None and pb.templates[template].audience != audience:
        problems["template"] = f"template {template!r} is for {pb.templates[template].audience}"
    if not template and not (body and body.strip()):
        problems["body"] = "give a template or a body"
    chosen = pb.templates.get(template) if template else None
    if inc.resolved_at is not None and not (chosen and chosen.closing) and corrects is None:
        closing = [t.name for t in pb.templates.values() if t.closing]
        problems["incident"] = "the incident is resolved" + (
            f" (closing templates: {', '.join(closing)})" if closing else ""
        )
    return aud, problems


def _variables(
    pb: Playbook, inc: Row[Any], audience: Audience, locale: str, now: datetime, places: Places
) -> dict[str, Any]:
    cadence = pb.cadence.get(inc.severity)
    return {
        "incident": Incident.from_row(inc).template_vars(
            regions=places.regions, services=places.services
        ),
        "playbook": {"id": pb.id, "name": pb.name},
        "next_update_at": now + cadence if cadence else inc.next_update_due_at,
        "audience": audience.name,
        "locale": locale,
        "now": now,
    }


@dataclass(frozen=True)
class Draft:
    """An update as rendered: its own locale's texts, each other locale's (``variants``), and
    every policy problem of any of them (those of another locale name it)."""

    locale: str
    rendered: dict[str, Rendered]
    variants: dict[str, dict[str, Rendered]]
    found: list[dict[str, str]]

    def stored_variants(self, texts: Mapping[str, Mapping[str, str]]) -> dict[str, Any] | None:
        """The ``variants`` column: each other locale's rendering and its per-channel edits."""
        if not self.variants:
            return None
        return {
            loc: {"rendered": {ch: asdict(r) for ch, r in rs.items()},
                  "channel_texts": dict(texts.get(loc) or {})}
            for loc, rs in self.variants.items()
        }  # fmt: skip


def render_update(
    pb: Playbook,
    inc: Row[Any],
    *,
    audience: Audience,
    template: str | None,
    body: str | None,
    channel_texts: Mapping[str, str],
    locale: str,
    channels: Mapping[str, Channel],
    now: datetime,
    correction: bool = False,
    places: Places = NO_PLACES,
    variant_texts: Mapping[str, Mapping[str, str]] | None = None,
) -> Draft:
    """Render the update in every locale its template is written in (``locale`` first: the
    update's own; the others for its personal channels only), check each against the policy;
    free text is in ``locale`` only."""
    tpl = pb.templates.get(template) if template else None
    written = locales.offered(tpl)
    main = locales.primary(locale, written)
    # The other languages go to people one by one (SMS, email, voice); a social post or the
    # status page carries the update's own.
    personal = tuple(
        ch for ch in audience.channels if (c := channels.get(ch)) and c.medium in PERSONAL_MEDIA
    )
    plan = [(main, audience, channel_texts)] + [
        (other, replace(audience, channels=personal), (variant_texts or {}).get(other) or {})
        for other in written
        if other != main and personal
    ]
    by_locale: dict[str, dict[str, Rendered]] = {}
    found: list[dict[str, str]] = []
    for loc, aud, texts in plan:
        by_locale[loc], more = _render_one(
            pb, inc, audience=aud, template=tpl, body=body, channel_texts=texts, locale=loc,
            channels=channels, now=now, correction=correction, places=places,
        )  # fmt: skip
        found += more if loc == main else [v | {"locale": loc} for v in more]
    rendered = by_locale.pop(main)
    return Draft(main, rendered, by_locale, found)


def _render_one(
    pb: Playbook,
    inc: Row[Any],
    *,
    audience: Audience,
    template: Template | None,
    body: str | None,
    channel_texts: Mapping[str, str],
    locale: str,
    channels: Mapping[str, Channel],
    now: datetime,
    correction: bool,
    places: Places,
) -> tuple[dict[str, Rendered], list[dict[str, str]]]:
    from jinja2 import TemplateError

    media = {n: c.medium for n, c in channels.items()}
    variables = _variables(pb, inc, audience, locale, now, places)
    try:
        rendered = render(
            playbook=pb,
            audience=audience,
            template=template,
            free_text=body,
            channel_texts=channel_texts,
            locale=locale,
            variables=variables,
            media=media,
        )
    except TemplateError as exc:
        raise ValidationFailed(
            f"the template does not render: {exc}", details={"template": str(exc)}
        ) from None
    found = violations(
        playbook=pb,
        audience=audience,
        rendered=rendered,
        media=media,
        closing=bool(template and template.closing) or correction,  # no promise of another
        limits=text_limits(channels),
    )
    return rendered, found


def goes_out_at_once(
    pb: Playbook,
    inc: Row[Any],
    aud: Audience,
    *,
    template: str | None,
    found: list[dict[str, str]],
    role: str | None,
    hold: bool = False,
) -> str | None:
    """Why a new draft would be published the moment it is written ("preapproved", "no
    approval"), or None: it waits for a person."""
    if found or hold:
        return None
    if template and inc.severity in pb.templates[template].preapproved:
        return "preapproved"
    if aud.approval is None and may(role or "", Perm.PUBLISH):
        return "no approval"
    return None


def preview(
    conn: Connection,
    pb: Playbook,
    inc: Row[Any],
    *,
    audience: str,
    template: str | None,
    body: str | None,
    locale: str,
    role: str | None,
    channels: Mapping[str, Channel],
    now: datetime,
    places: Places = NO_PLACES,
    notify: bool = True,
) -> dict[str, Any]:
    """What drafting this would do, without writing anything."""
    aud, problems = check(pb, inc, audience=audience, template=template, body=body)
    if problems or aud is None:
        raise ValidationFailed("the update could not be drafted", details=problems)
    d = render_update(
        pb, inc, audience=aud, template=template, body=body, channel_texts={}, locale=locale,
        channels=channels, now=now, places=places,
    )  # fmt: skip
    rendered, found = d.rendered, d.found
    at_once = goes_out_at_once(pb, inc, aud, template=template, found=found, role=role)
    return {
        "audience": aud.name,
        "template": template,
        "locale": d.locale,
        "locales": [d.locale, *d.variants],
        "variants": {loc: {ch: r.text for ch, r in rs.items()} for loc, rs in d.variants.items()},
        "public": aud.public,
        "rendered": {ch: r.text for ch, r in rendered.items()},
        "subjects": {ch: r.subject for ch, r in rendered.items() if r.subject},
        "segments": {ch: r.segments for ch, r in rendered.items() if r.segments is not None},
        "policy_violations": found,
        "reach": reach(
            conn,
            aud,
            list(inc.regions or []),
            channels,
            locales=[d.locale, *d.variants],
            notify=notify,
        ),  # fmt: skip
        "notify_subscribers": notify,
        "goes_out": "at_once" if at_once else "approval",
        "why": at_once or "needs approval",
        "approval": aud.approval,
        "two_person": aud.two_person,
    }
