"""Server-rendered pages for people: login, incidents board, declare, incident page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    RateLimited,
    ValidationFailed,
)
from engine.kernel.roles import Perm, may, satisfies
from engine.updates.locales import offered
from web.api import people_names
from web.auth import acting, crisis, current_user, log_in, log_out, requires
from web.auth import safe_next as _safe_next
from web.kept import keep
from web.timeline import describe

bp = Blueprint("ui", __name__)


def place_names(ids: Any, kind: str = "regions") -> str:
    """Region (or service) ids as people know them: ``["lille", "calais"]`` → "Lille, Calais"."""
    known = crisis().places.known(kind)
    return ", ".join(known.get(str(i), str(i)) for i in ids or ())


def refused(what: str, exc: ValidationFailed) -> None:
    """Flash why a form was refused: "Not saved: severity: unknown severity …"."""
    flash(f"{what}: " + "; ".join(f"{k}: {v}" for k, v in exc.details.items()), "error")


def ago(value: datetime, now: datetime) -> str:
    minutes = int((now - value).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min ago" if hours < 48 else f"{hours // 24} days ago"


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
    status = 200
    username = request.form.get("username", "").strip()[:100]  # kept when the password fails
    if request.method == "POST":
        try:
            user = crisis().accounts.authenticate(
                username=username,
                password=request.form.get("password", ""),
                client=request.remote_addr or "",
            )
        except RateLimited as exc:
            unit = "second" if exc.retry_after == 1 else "seconds"
            error = (
                f"Too many failed attempts: wait {exc.retry_after} {unit} and try again. "
                "An admin can clear this for your account."
            )
            status = 429
            resp = make_response(
                render_template("login.html", error=error, username=username), status
            )
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        if user is not None:
            log_in(user)
            if request.form.get("kept"):  # logging in again after a session ended mid-form
                keep(request.form["kept"])
            return redirect(_safe_next(request.args.get("next")))
        error = "Wrong username or password. Repeated failures make you wait a little longer."
        status = 401
    return render_template("login.html", error=error, username=username), status


@bp.post("/logout")
def logout() -> Any:
    """Log out."""
    log_out()
    return redirect(url_for("ui.login"))


@bp.get("/")
@requires(Perm.READ)
def board() -> Any:
    """Show open incidents, most severe first."""
    core = crisis()
    incidents = core.incidents.list_incidents(state="open", per_page=200).items
    incidents.sort(key=lambda i: (i.severity, -i.declared_at.timestamp()))
    now = core.clock.now()
    rows = [
        {"incident": i, "age": ago(i.declared_at, now), "due": due_in(i.next_update_due_at, now)}
        for i in incidents
    ]
    recent = core.incidents.list_incidents(state="resolved", per_page=10).items
    frozen = {f["incident_id"] for f in core.calendar.list_freezes(active=True)}
    return render_template(
        "board.html",
        frozen=frozen,
        rows=rows,
        recent=recent,
        can_declare=may(acting().role, Perm.DECLARE),
    )


@bp.route("/incidents/new", methods=["GET", "POST"])
@requires(Perm.DECLARE)
def declare() -> Any:
    """Declare an incident from a phone-sized form."""
    core = crisis()
    playbooks = core.catalog.all()
    form = request.form
    errors: dict[str, str] = {}
    if request.method == "POST":
        regions = [r for v in form.getlist("regions") for r in v.split(",") if r.strip()]
        try:
            inc = core.incidents.declare(
                actor=acting(),
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
        "declare.html",
        playbooks=playbooks,
        severities=severities,
        form=form,
        errors=errors,
        region_choices=core.places.choices("regions"),
        chosen_regions=set(form.getlist("regions")),
    ), (422 if errors else 200)


def written_in(pb: Any) -> list[str]:
    """The languages the playbook's templates are written in, English first if it is one."""
    found = dict.fromkeys(loc for t in pb.templates.values() for loc in offered(t))
    return sorted(found, key=lambda loc: (loc != "en", list(found).index(loc))) or ["en"]


@bp.get("/incidents/<int:incident_id>")
@requires(Perm.READ)
def incident(incident_id: int) -> Any:
    """Show an incident: state, next steps and the live timeline."""
    from web.ui_updates import update_views  # it registers its pages on this blueprint

    core = crisis()
    inc = core.incidents.get(incident_id=incident_id)
    pb = core.incidents.playbook_of(inc)
    user = current_user()
    assert user is not None
    can_ack = (
        core.incidents.may_acknowledge(actor=user.as_actor(), incident_id=inc.id)
        and inc.owner is None
        and inc.state not in pb.final
    )
    until = pb.escalation.until if pb.escalation else "acknowledge"
    # The Acknowledge button fires the ladder's stop trigger too; do not offer it twice.
    # Buttons the user may not press are shown disabled, with the role they need.
    transition_role = "operator" if not may(user.role, Perm.TRANSITION) else None
    triggers = [
        {
            "trigger": t.trigger,
            "dest": t.dest,
            "needs": (
                needs := t.role if t.role and not satisfies(user.role, t.role) else transition_role
            ),
            "allowed": needs is None,
        }  # fmt: skip
        for t in pb.transitions_from(inc.state)
        if not (inc.owner is None and t.trigger == until and inc.state not in pb.final)
    ]
    timeline = core.incidents.timeline(incident_id=incident_id)
    now = core.clock.now()
    freezes = [
        f
        | {
            "held": core.calendar.list_posts(held_by=f["id"], per_page=20)[0],
            "platform_items": (
                core.platforms.items(freeze_id=f["id"]) if f.get("connectors") else []
            ),
        }
        for f in core.calendar.list_freezes(incident_id=incident_id)
    ]
    updates = core.updates.list_updates(incident_id=incident_id)
    first_steps = _first_steps(pb, inc, updates) if inc.resolved_at is None else None
    names = people_names()
    return render_template(
        "incident.html",
        incident=inc,
        playbook=pb,
        triggers=triggers,
        timeline=timeline,
        escalation=core.incidents.escalation_status(inc),
        due=due_in(inc.next_update_due_at, now),
        pages=[e for e in timeline if e.type in ("paged", "escalation_exhausted")][-6:],
        freezes=freezes,
        can_lift=may(user.role, Perm.LIFT_FREEZE),
        updates=update_views(updates, user),
        still_open=_still_open(updates, freezes) if inc.state in pb.final else [],
        can_draft=may(user.role, Perm.DRAFT) and inc.resolved_at is None,
        can_ack=can_ack,
        first_steps=first_steps,
        names=names,
        said={e.seq: describe(e, names) for e in timeline},
        can_edit=may(user.role, Perm.TRANSITION) and inc.resolved_at is None,
        region_choices=core.places.choices("regions"),
        written_in=written_in(pb),
        age=ago(inc.declared_at, core.clock.now()),
        monitoring_offer=_monitoring_offer(timeline, inc.resolved_at is None),
        credentials=_credential_problems(core, incident_id),
    )


WAITING = ("pending_approval",)


def _first_steps(pb: Any, inc: Any, updates: list[dict[str, Any]]) -> dict[str, Any]:
    """What to do first after declaring: send the holding statement (the public template
    pre-approved at this severity, else the first public one), then acknowledge."""
    public = {a for a, aud in pb.audiences.items() if aud.public}
    candidates = [t for t in pb.templates.values() if t.audience in public and not t.closing]
    chosen = next((t for t in candidates if inc.severity in t.preapproved), None) or next(
        iter(candidates), None
    )
    said = [
        u for u in updates
        if u["audience"] in public and u["status"] not in ("rejected", "withdrawn", "expired")
    ]  # fmt: skip
    holding = None
    if chosen is not None:
        holding = {
            "template": chosen.name,
            "audience": chosen.audience,
            "preapproved": inc.severity in chosen.preapproved,
            "approval": pb.audiences[chosen.audience].approval,
            "done": bool(said),
            "sent": any(u["status"] not in WAITING for u in said),
            "status": said[0]["status"].replace("_", " ") if said else None,  # the newest
        }
    return {"holding": holding}


def _credential_problems(core: Any, incident_id: int) -> list[dict[str, Any]]:
    """Channels whose provider refuses our credentials, with the variables that hold them."""
    out = []
    for p in core.delivery.credential_problems(incident_id=incident_id):
        channel = core.channels.get(p["channel"])
        names = sorted(set(channel.credentials.values())) if channel else []
        out.append(p | {"kind": channel.kind if channel else "", "variables": names})
    return out


def _still_open(updates: list[dict[str, Any]], freezes: list[dict[str, Any]]) -> list[str]:
    """What a resolved incident still leaves to do: updates waiting, freezes and held posts."""
    out = [
        f"Update #{u['id']} for {u['audience']} waits for approval."
        for u in updates
        if u["status"] == "pending_approval"
    ]
    for f in freezes:
        if f["lifted_at"] is None:
            held = len(f["held"])
            posts = f" and holds {held} post(s)" if held else ""
            out.append(f"Promo freeze {f['id']} is still active{posts}: lift it below when due.")
    return out


def _monitoring_offer(timeline: list[Any], open_: bool) -> dict[str, Any] | None:
    """Every alert of this open incident has resolved: the trigger that would resolve it."""
    last = next(
        (e for e in reversed(timeline) if e.type in ("monitoring_resolved", "alert_joined")), None
    )
    if not open_ or last is None or last.type != "monitoring_resolved":
        return None
    return {"trigger": last.data.get("offer")}


@bp.post("/incidents/<int:incident_id>/transition")
@requires(Perm.TRANSITION)
def transition(incident_id: int) -> Any:
    """Fire the trigger a button names."""
    trigger = request.form.get("trigger", "")
    if not trigger:
        abort(400)
    try:
        inc = crisis().incidents.fire(
            actor=acting(),
            incident_id=incident_id,
            trigger=trigger,
            note=request.form.get("note") or None,
        )
        flash(f"{inc.ref} is now {inc.state}.", "ok")
    except (InvalidTransition, Forbidden) as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/edit")
@requires(Perm.TRANSITION)
def edit_incident(incident_id: int) -> Any:
    """Change the incident's severity, title, regions or summary (what changed is recorded)."""
    form = request.form
    regions = None
    if form.get("regions_shown") == "1":  # unticking every region is a change too
        regions = [r for v in form.getlist("regions") for r in v.split(",") if r.strip()]
    try:
        inc = crisis().incidents.amend(
            actor=acting(),
            incident_id=incident_id,
            severity=form.get("severity") or None,
            title=form.get("title"),
            regions=regions,
            summary=form.get("summary"),
        )
        flash(f"{inc.ref} saved.", "ok")
    except ValidationFailed as exc:
        refused("Not saved", exc)
    return redirect(url_for("ui.incident", incident_id=incident_id))


@bp.post("/incidents/<int:incident_id>/ack")
@requires(Perm.READ)  # the engine decides: operators, and anyone this incident paged
def ack(incident_id: int) -> Any:
    """Acknowledge: take ownership and stop paging."""
    try:
        inc = crisis().incidents.acknowledge(actor=acting(), incident_id=incident_id, via="web")
        flash(f"You own {inc.ref}; paging has stopped.", "ok")
    except (Conflict, Forbidden) as exc:
        flash(str(exc), "error")
    return redirect(url_for("ui.incident", incident_id=incident_id))


@bp.post("/freezes/<int:freeze_id>/lift")
@requires(Perm.LIFT_FREEZE)
def lift(freeze_id: int) -> Any:
    """Lift a freeze from its incident's page (a reason is required)."""
    core = crisis()
    back = request.form.get("back") or url_for("ui.calendar_page")
    try:
        out = core.calendar.lift_freeze(
            actor=acting(),
            freeze_id=freeze_id,
            reason=request.form.get("reason", ""),
            force=request.form.get("force") == "on",
        )
        counts = out["posts"]
        flash(
            f"Freeze {freeze_id} lifted: {counts['review']} post(s) to review, "
            f"{counts['scheduled']} rescheduled, {counts['cancelled']} cancelled.",
            "ok",
        )
    except (Conflict, ValidationFailed) as exc:
        flash(f"Not lifted: {exc}", "error")
    return redirect(_safe_next(back))


def waiting_for_me() -> int:
    """For the nav: drafts waiting for an approval this user may give."""
    user = current_user()
    if user is None or not may(user.role, Perm.APPROVE) or user.role == "automation":
        return 0
    return int(crisis().updates.count_waiting(for_user=user.username))


def active_freeze_summary() -> dict[str, int] | None:
    """For the banner on every page: active freezes, the posts they hold, and the items
    they keep paused on marketing platforms."""
    if current_user() is None:
        return None
    active, held, paused = crisis().calendar.freeze_banner()
    return {"freezes": active, "held": held, "paused": paused} if active else None


@bp.get("/sandbox")
@requires(Perm.READ)
def sandbox_inbox() -> Any:
    """Show what every sandbox channel would have sent, newest first."""
    return render_template("sandbox.html", messages=crisis().delivery.sandbox_messages(limit=200))
