"""Drafting an update as a decision over the store's rows: check what was asked, render it
for each channel, check the policy, and say before anything is written what would happen
(``preview``: what goes where, to how many, and whether it goes out at once)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from engine.kernel.errors import ValidationFailed
from engine.kernel.models import Incident
from engine.kernel.roles import Perm, may
from engine.playbooks.channels import Channel, text_limits
from engine.playbooks.places import NO_PLACES, Places
from engine.playbooks.playbook import Audience, Playbook
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
) -> tuple[dict[str, Rendered], list[dict[str, str]]]:
    from jinja2 import TemplateError

    media = {n: c.medium for n, c in channels.items()}
    tpl = pb.templates.get(template) if template else None
    variables = _variables(pb, inc, audience, locale, now, places)
    try:
        rendered = render(
            playbook=pb,
            audience=audience,
            template=tpl,
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
        closing=bool(tpl and tpl.closing) or correction,  # neither promises another update
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
) -> dict[str, Any]:
    """What drafting this would do, without writing anything."""
    aud, problems = check(pb, inc, audience=audience, template=template, body=body)
    if problems or aud is None:
        raise ValidationFailed("the update could not be drafted", details=problems)
    rendered, found = render_update(
        pb, inc, audience=aud, template=template, body=body, channel_texts={}, locale=locale,
        channels=channels, now=now, places=places,
    )  # fmt: skip
    at_once = goes_out_at_once(pb, inc, aud, template=template, found=found, role=role)
    return {
        "audience": aud.name,
        "template": template,
        "locale": locale,
        "public": aud.public,
        "rendered": {ch: r.text for ch, r in rendered.items()},
        "subjects": {ch: r.subject for ch, r in rendered.items() if r.subject},
        "segments": {ch: r.segments for ch, r in rendered.items() if r.segments is not None},
        "policy_violations": found,
        "reach": reach(conn, aud, list(inc.regions or []), channels),
        "goes_out": "at_once" if at_once else "approval",
        "why": at_once or "needs approval",
        "approval": aud.approval,
        "two_person": aud.two_person,
    }
