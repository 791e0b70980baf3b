"""Server-rendered pages for people: login, incidents board, declare, incident page."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from engine.roles import Perm, may
from web.auth import current_actor, current_user, log_in, log_out, requires, service

bp = Blueprint("ui", __name__)


def _actor() -> Any:
    actor = current_actor()
    assert actor is not None
    return actor


def _safe_next(target: str | None) -> str:
    """Only follow redirects to paths on this site."""
    if not target:
        return url_for("ui.board")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.board")
    return target


def ago(value: datetime, now: datetime) -> str:
    minutes = int((now - value).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def due_in(when: datetime | None, now: datetime) -> dict[str, Any] | None:
    """How long until (or since) a deadline, for people: ``in 12 min`` / ``8 min overdue``."""
    if when is None:
        return None
    minutes = int((when - now).total_seconds() // 60)
    if minutes >= 0:
        return {
            "text": f"in {minutes} min" if minutes < 120 else f"in {minutes // 60} h",
            "overdue": False,
            "at": when,
        }
    late = -minutes
    return {
        "text": f"{late} min overdue" if late < 120 else f"{late // 60} h overdue",
        "overdue": True,
        "at": when,
    }


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Log in with a username and password."""
    error = None
    if request.method == "POST":
        user = service().authenticate(
            username=request.form.get("username", "").strip(),
            password=request.form.get("password", ""),
        )
        if user is not None:
            log_in(user)
            return redirect(_safe_next(request.args.get("next")))
        error = "Wrong username or password. After 5 failures the account is locked for 15 minutes."
    status = 401 if error else 200
    return render_template("login.html", error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Log out."""
    log_out()
    return redirect(url_for("ui.login"))


@bp.get("/")
@requires(Perm.READ)
def board() -> Any:
    """Show open incidents, most severe first."""
    svc = service()
    incidents = svc.list_incidents(state="open", per_page=200).items
    incidents.sort(key=lambda i: (i.severity, -i.declared_at.timestamp()))
    now = svc.clock.now()
    rows = [
        {"incident": i, "age": ago(i.declared_at, now), "due": due_in(i.next_update_due_at, now)}
        for i in incidents
    ]
    recent = svc.list_incidents(state="resolved", per_page=10).items
    return render_template(
        "board.html", rows=rows, recent=recent, can_declare=may(current_user().role, Perm.DECLARE)
    )  # type: ignore[union-attr]


@bp.route("/incidents/new", methods=["GET", "POST"])
@requires(Perm.DECLARE)
def declare() -> Any:
    """Declare an incident from a phone-sized form."""
    svc = service()
    playbooks = svc.catalog.all()
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        regions = [r.strip() for r in form.get("regions", "").split(",") if r.strip()]
        try:
            inc = svc.declare(
                actor=_actor(),
                playbook=form.get("playbook", ""),
                severity=form.get("severity", ""),
                title=form.get("title", ""),
                regions=regions,
                summary=form.get("summary", ""),
            )
        except ValidationFailed as exc:
            errors = dict(exc.details)
        else:
            flash(f"Declared {inc.ref}.", "ok")
            return redirect(url_for("ui.incident", incident_id=inc.id))
    severities = list(dict.fromkeys(s for pb in playbooks for s in pb.severities))
    return render_template(
        "declare.html", playbooks=playbooks, severities=severities, form=form, errors=errors
    ), (422 if errors else 200)


@bp.get("/incidents/<int:incident_id>")
@requires(Perm.READ)
def incident(incident_id: int) -> Any:
    """Show an incident: state, next steps and the live timeline."""
    svc = service()
    inc = svc.get(incident_id=incident_id)
    pb = svc.playbook_of(inc)
    user = current_user()
    assert user is not None
    triggers = list(pb.transitions_from(inc.state))
    timeline = svc.timeline(incident_id=incident_id)
    now = svc.clock.now()
    return render_template(
        "incident.html",
        incident=inc,
        playbook=pb,
        triggers=triggers,
        timeline=timeline,
        escalation=svc.escalation_status(inc),
        due=due_in(inc.next_update_due_at, now),
        pages=[e for e in timeline if e.type in ("paged", "escalation_exhausted")][-6:],
        can_transition=may(user.role, Perm.TRANSITION),
        can_ack=may(user.role, Perm.ACKNOWLEDGE)
        and inc.owner is None
        and inc.state not in pb.final,
        age=ago(inc.declared_at, svc.clock.now()),
    )


@bp.post("/incidents/<int:incident_id>/transition")
@requires(Perm.TRANSITION)
def transition(incident_id: int) -> Any:
    """Fire the trigger a button names."""
    trigger = request.form.get("trigger", "")
    if not trigger:
        abort(400)
    try:
        inc = service().fire(
            actor=_actor(),
            incident_id=incident_id,
            trigger=trigger,
            note=request.form.get("note") or None,
        )
        flash(f"{inc.ref} is now {inc.state}.", "ok")
    except (InvalidTransition, Forbidden) as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/ack")
@requires(Perm.ACKNOWLEDGE)
def ack(incident_id: int) -> Any:
    """Acknowledge: take ownership and stop paging."""
    try:
        inc = service().acknowledge(actor=_actor(), incident_id=incident_id, via="web")
        flash(f"You own {inc.ref}; paging has stopped.", "ok")
    except Conflict as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.incident", incident_id=incident_id))
