"""The pages and forms about operational updates: draft (with a confirmation before anything
goes out at once), edit, approve or reject, correct; and the approval queue."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from engine.kernel.errors import Conflict, Forbidden, ValidationFailed
from engine.kernel.roles import Perm, may
from engine.playbooks.channels import EDITS_IN_PLACE, text_limits
from engine.updates.locales import name as language_name
from web.auth import acting, crisis, current_user, requires
from web.auth import safe_next as _safe_next
from web.errors import ApiError
from web.ui import ago, bp, refused


def update_views(updates: list[dict[str, Any]], user: Any) -> list[dict[str, Any]]:
    """Add what the current user may do with each update, and who must approve it."""
    core = crisis()
    limits = text_limits(core.channels)
    audiences: dict[int, Any] = {}
    out = []
    for u in updates:
        if u["incident_id"] not in audiences:
            audiences[u["incident_id"]] = core.incidents.playbook_of(
                core.incidents.get(incident_id=u["incident_id"])
            ).audiences
        aud = audiences[u["incident_id"]].get(u["audience"])
        out.append(
            u
            | {
                "can_decide": u["status"] == "pending_approval"
                and may(user.role, Perm.APPROVE)
                and user.role != "automation",
                "mine": u["author"] == user.username,
                "approver": aud.approval if aud else None,
                "two_person": bool(aud and aud.two_person),
                "can_correct": may(user.role, Perm.DRAFT)
                and u["status"] in ("sending", "sent", "partially_failed"),
                "can_edit": may(user.role, Perm.DRAFT) and u["status"] == "pending_approval",
                "reach": (
                    reach_parts(core.updates.reach_of(update_id=u["id"]), u["audience"])
                    if u["status"] == "pending_approval"
                    else []
                ),
                "edits_in_place": [
                    ch
                    for ch in u.get("channels", [])
                    if (c := core.channels.get(ch)) and c.kind in EDITS_IN_PLACE
                ],  # fmt: skip
                "lengths": {
                    ch: {
                        "n": lim.count(text),
                        "most": lim.most,
                        "unit": lim.unit,
                        "platform": lim.platform,
                    }  # fmt: skip
                    for ch, text in (u.get("rendered") or {}).items()
                    if (lim := limits.get(ch))
                },
            }
        )
    return out


@bp.get("/approvals")
@requires(Perm.READ)
def approvals() -> Any:
    """The approval queue: drafts waiting, with what each channel will send."""
    core = crisis()
    user = current_user()
    pending = update_views(core.updates.list_updates(status="pending_approval"), user)
    incidents = {i: core.incidents.get(incident_id=i) for i in {u["incident_id"] for u in pending}}
    now = core.clock.now()
    for u in pending:
        u["age"] = ago(u["created_at"], now)
    return render_template("approvals.html", updates=pending, incidents=incidents)


MEDIUM = {"sms": "SMS", "voice": "voice call", "email": "email", "newsletter": "newsletter"}
POST = {"twitter": "X", "status_page": "status page"}


def reach_parts(reach: list[dict[str, Any]], audience: str) -> list[dict[str, Any]]:
    """Who it reaches, for people: "SMS to 1,204 passengers", "X", "status page"; ``none``
    marks a personal channel that reaches nobody."""
    out = []
    for r in reach:
        if r["people"] is None:
            text = POST.get(r["channel"], r["channel"].replace("_", " "))
        else:
            medium = MEDIUM.get(r["medium"], r["medium"])
            text = f"{medium} to {r['people']:,} {audience}"
            if r.get("notified") is False:
                text = f"{medium}: {audience} not notified"
            read = {loc: n for loc, n in (r.get("languages") or {}).items() if n}
            if len(read) > 1:  # each person in their language
                text += " (" + ", ".join(
                    f"{n:,} in {language_name(loc)}" for loc, n in read.items()
                ) + ")"  # fmt: skip
        quiet = r.get("notified") is False  # unticked on purpose: not a warning
        out.append({"text": text, "none": r["people"] == 0 and not quiet, "people": r["people"]})
    return out


def _asked(form: Any) -> dict[str, Any]:
    """What the form asks to send: ``what`` is "template:NAME" (its audience follows) or
    "free:AUDIENCE"; the confirmation page sends ``audience`` and ``template`` as they are."""
    audience, template = form.get("audience", ""), form.get("template") or None
    kind, _, name = form.get("what", "").partition(":")
    if kind == "template" and name:
        template = name
        pb_audience = _template_audience(name)
        audience = pb_audience or audience
    elif kind == "free" and name:
        audience, template = name, None
    return {
        "audience": audience,
        "template": template,
        "body": form.get("body") or None,
        "locale": form.get("locale") or "en",
        # a ticked box sends "1" after its hidden "0"; no field at all: the default, notify
        "notify": (form.getlist("notify") or ["1"])[-1] != "0",
    }


def _template_audience(template: str) -> str | None:
    incident_id = request.view_args.get("incident_id") if request.view_args else None
    if incident_id is None:
        return None
    core = crisis()
    pb = core.incidents.playbook_of(core.incidents.get(incident_id=incident_id))
    t = pb.templates.get(template)
    return t.audience if t else None


def _confirmation(
    incident_id: int, asked: dict[str, Any], preview: dict[str, Any] | None = None
) -> Any:
    """The page that says what goes where, to how many, before it goes out at once."""
    core = crisis()
    if preview is None:
        preview = core.updates.preview_update(actor=acting(), incident_id=incident_id, **asked)
    inc = core.incidents.get(incident_id=incident_id)
    parts = reach_parts(preview["reach"], preview["audience"])
    people = sum(p["people"] or 0 for p in parts)
    posts = sum(1 for p in parts if p["people"] is None)
    return render_template(
        "confirm_update.html", incident=inc, preview=preview, asked=asked, reach=parts,
        people=people, posts=posts,
    )  # fmt: skip


@bp.get("/incidents/<int:incident_id>/updates/confirm")
@requires(Perm.DRAFT)
def confirm_update(incident_id: int) -> Any:
    """Show what an update would send (the holding statement's button lands here)."""
    try:
        return _confirmation(incident_id, _asked(request.args))
    except ValidationFailed as exc:
        refused("Not drafted", exc)
        return redirect(url_for("ui.incident", incident_id=incident_id) + "#updates")


@bp.post("/incidents/<int:incident_id>/updates")
@requires(Perm.DRAFT)
def draft_update(incident_id: int) -> Any:
    """Draft an update from the incident page. One that would go out at once (pre-approved,
    or an audience without approval) is first shown with what goes where and to how many,
    and goes out when the user confirms."""
    form = request.form
    asked = _asked(form)
    core = crisis()
    try:
        if form.get("confirmed") != "1":
            preview = core.updates.preview_update(actor=acting(), incident_id=incident_id, **asked)
            if preview["goes_out"] == "at_once":
                return _confirmation(incident_id, asked, preview)
        u = core.updates.draft_update(actor=acting(), incident_id=incident_id, **asked)
        if u["status"] == "pending_approval":
            flash(f"Update #{u['id']} drafted: it waits for approval.", "ok")
        else:
            flash(f"Update #{u['id']} is going out now.", "ok")
    except ValidationFailed as exc:
        refused("Not drafted", exc)
    return redirect(url_for("ui.incident", incident_id=incident_id) + "#updates")


@bp.post("/updates/<int:update_id>/revise")
@requires(Perm.DRAFT)
def revise_update(update_id: int) -> Any:
    """Edit a draft: the texts that changed become a new revision; approvals void."""
    core = crisis()
    u = core.updates.get_update(update_id=update_id)
    changed = {
        ch: text.strip()
        for ch in u["channels"]
        if (text := request.form.get(f"text-{ch}")) is not None
        and text.strip()
        and text.strip() != u["rendered"].get(ch, "")
    }
    translated = variant_edits(u, request.form)
    if not changed and not translated:
        flash(f"Update #{update_id}: nothing changed.", "ok")
    else:
        try:
            r = core.updates.revise_update(
                actor=acting(), update_id=update_id,
                channel_texts=u_texts(u) | changed,
                variant_texts=translated,
            )  # fmt: skip
            flash(f"Update #{update_id} is now revision {r['revision']}; it needs approving "
                  "again.", "ok")  # fmt: skip
        except (Conflict, ValidationFailed) as exc:
            flash(f"Update #{update_id}: {exc}", "error")
    return redirect(url_for("ui.incident", incident_id=u["incident_id"]) + f"#update-{update_id}")


def variant_edits(u: dict[str, Any], form: Any) -> dict[str, dict[str, str]]:
    """The other languages' texts the edit form changed (``text-fr-sms``), all of each
    changed language's channels kept as they render now (as ``u_texts`` does)."""
    out = {}
    for loc, texts in (u.get("variants") or {}).items():
        changed = {
            ch: text.strip()
            for ch in texts
            if (text := form.get(f"text-{loc}-{ch}")) is not None
            and text.strip()
            and text.strip() != texts[ch]
        }
        if changed:
            out[loc] = {ch: t for ch, t in texts.items() if t} | changed
    return out


def u_texts(u: dict[str, Any]) -> dict[str, str]:
    """The per-channel texts a revision keeps: every channel's text as it renders now, so an
    edit of one channel does not re-render the others."""
    return {ch: text for ch, text in u["rendered"].items() if text}


@bp.post("/updates/<int:update_id>/correct")
@requires(Perm.DRAFT)
def correct_update(update_id: int) -> Any:
    """Draft a correction of a published update (approved like any update)."""
    try:
        u = crisis().updates.draft_correction(
            actor=acting(), update_id=update_id, body=request.form.get("body", "")
        )
        flash(f"Correction {u['id']} of update {update_id} drafted: "
              f"{u['status'].replace('_', ' ')}.", "ok")  # fmt: skip
    except ValidationFailed as exc:
        refused("Not drafted", exc)
        u = crisis().updates.get_update(update_id=update_id)
    return redirect(url_for("ui.incident", incident_id=u["incident_id"]) + "#updates")


@bp.post("/updates/<int:update_id>/decide")
@requires(Perm.READ)
def decide_update(update_id: int) -> Any:
    """Approve (a named revision, optionally overriding the policy) or reject an update."""
    core = crisis()
    form = request.form
    back = _safe_next(form.get("back"))
    raw_revision = form.get("revision", "0") or "0"
    if not (raw_revision.isascii() and raw_revision.isdigit() and len(raw_revision) < 10):
        raise ApiError(
            400, "revision must be a whole number", details={"revision": raw_revision[:20]}
        )
    try:
        if form.get("decision") == "reject":
            core.updates.reject_update(
                actor=acting(), update_id=update_id, reason=form.get("reason", "")
            )
            flash(f"Update {update_id} rejected.", "ok")
        else:
            core.updates.approve_update(
                actor=acting(),
                update_id=update_id,
                revision=int(raw_revision),
                override_reason=form.get("override_reason") or None,
            )
            flash(f"Update {update_id} approved and sent.", "ok")
            # Land on its delivery progress, not on an emptier queue.
            u = core.updates.get_update(update_id=update_id)
            return redirect(
                url_for("ui.incident", incident_id=u["incident_id"]) + f"#update-{update_id}"
            )
    except (Conflict, Forbidden, ValidationFailed) as exc:
        flash(f"Update {update_id}: {exc}", "error")
    return redirect(back)
