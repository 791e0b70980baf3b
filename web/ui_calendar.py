"""The content calendar's pages: what is scheduled, held and waiting for review; a post
scheduled into an active freeze is marked; many posts decided at once are asked once and can
be taken back for a short while."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from engine.calendar.rules import CANCEL_UNDO, RELEASE_DELAY, undo_window
from engine.kernel.errors import Conflict, NotFound, ValidationFailed
from engine.kernel.roles import Perm, may
from web.auth import acting, crisis, current_user, requires
from web.localtime import at, read_local
from web.ui import bp, refused


@bp.get("/calendar")
@requires(Perm.READ)
def calendar_page() -> Any:
    """Show the content calendar: the review queue, held posts, what is coming."""
    core = crisis()
    user = current_user()
    assert user is not None
    review, _ = core.calendar.list_posts(state="held", review=True, per_page=500)
    held, _ = core.calendar.list_posts(state="held", review=False, per_page=500)
    upcoming, n_upcoming = core.calendar.list_posts(state="scheduled", per_page=100)
    published, _ = core.calendar.list_posts(state="published", per_page=500)
    freezes = {f["id"]: f for f in core.calendar.list_freezes()}
    social = [n for n, c in core.channels.items() if c.medium in ("social", "newsletter")]
    return render_template(
        "calendar.html",
        review=review,
        platform_review=core.platforms.in_review(),
        held=held,
        upcoming=upcoming,
        n_upcoming=n_upcoming,
        published=published[-10:][::-1],
        freezes=freezes,
        channels=social,
        can_review=may(user.role, Perm.REVIEW_POSTS),
        can_post=may(user.role, Perm.MANAGE_POSTS),
        caught=core.calendar.caught_by_freezes(),
        undo=undo_offer(request.args.get("undo"), core.clock.now()),
        now=core.clock.now(),
    )


@bp.post("/calendar/posts")
@requires(Perm.MANAGE_POSTS)
def calendar_new_post() -> Any:
    """Schedule a post from the calendar page; warn when an active freeze will hold it."""
    core = crisis()
    form = request.form
    try:
        p = core.calendar.create_post(
            actor=acting(),
            fields={
                "channel": form.get("channel", ""),
                "body": form.get("body", ""),
                "publish_at": read_local(form.get("publish_at", "")),
                "tags": form.get("tags", ""),
                "regions": form.get("regions", ""),
            },
        )
    except ValidationFailed as exc:
        refused("Not scheduled", exc)
        return redirect(url_for("ui.calendar_page"))
    flash(Markup("Scheduled post {} for {}.").format(p["id"], at(p["publish_at"], "full")), "ok")
    for fid in p["would_be_held_by"]:
        f = core.calendar.get_freeze(freeze_id=fid)
        why = f["reason"]
        if f.get("incident_id") and f"INC-{f['incident_id']}" not in why:
            why = f"INC-{f['incident_id']}: {why}"
        flash(
            f"❄ Promo freeze {fid} is active ({why}). It will hold this post when its time "
            "comes, unless the freeze is lifted first.",
            "warn",
        )
    return redirect(url_for("ui.calendar_page"))


@bp.post("/calendar/review")
@requires(Perm.REVIEW_POSTS)
def calendar_review() -> Any:
    """Publish, reschedule or cancel one held post; or, asked once, many (undoable a while)."""
    core = crisis()
    action = request.form.get("action", "")
    ids = [int(i) for i in request.form.getlist("post_id") if i.isdigit()]
    if request.form.get("bulk") == "1" and action in ("publish", "cancel"):
        return _bulk_review(ids, action)
    when = read_local(request.form.get("publish_at", "")) if action == "reschedule" else None
    done, failed = 0, []
    for pid in ids:
        try:
            core.calendar.review_post(actor=acting(), post_id=pid, action=action, publish_at=when)
            done += 1
        except (Conflict, ValidationFailed) as exc:
            failed.append(f"post {pid}: {exc}")
    if done:
        flash(f"{action.capitalize()}: {done} post(s).", "ok")
    for message in failed:
        flash(message, "error")
    return redirect(url_for("ui.calendar_page"))


def _undo_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="calendar-undo")


def _bulk_review(ids: list[int], action: str) -> Any:
    """Show what a bulk decision would do and ask once; when confirmed, do it."""
    core = crisis()
    if request.form.get("confirmed") != "1":
        held, _ = core.calendar.list_posts(state="held", per_page=500)
        chosen = [p for p in held if p["id"] in ids]
        return render_template(
            "calendar_confirm.html",
            action=action,
            posts=chosen,
            freezes={f["id"]: f for f in core.calendar.list_freezes()},
            releases_in=int(RELEASE_DELAY.total_seconds()),
            undo_minutes=int(CANCEL_UNDO.total_seconds() // 60),
        )
    try:
        bulk = core.calendar.review_posts(actor=acting(), post_ids=ids, action=action)
    except ValidationFailed as exc:
        refused("Nothing done", exc)
        return redirect(url_for("ui.calendar_page"))
    for pid, why in bulk.failed.items():
        flash(f"post {pid} not changed: {why}", "error")
    if not bulk.done:
        return redirect(url_for("ui.calendar_page"))
    token = _undo_signer().dumps(
        {"a": bulk.action, "ids": list(bulk.done), "at": bulk.stamp.isoformat()}
    )
    return redirect(url_for("ui.calendar_page", undo=token), code=303)


def undo_offer(token: str | None, now: datetime) -> dict[str, Any] | None:
    """The bulk decision a calendar link offers to take back, while it still can be."""
    if not token:
        return None
    try:
        data = _undo_signer().loads(token, max_age=int(CANCEL_UNDO.total_seconds()) + 60)
        action, stamp = str(data["a"]), datetime.fromisoformat(data["at"])
        ids = [int(i) for i in data["ids"]]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    until = stamp + undo_window(action)
    if now >= until:
        return None
    return {"action": action, "ids": ids, "stamp": stamp, "token": token, "until": until}


@bp.post("/calendar/undo")
@requires(Perm.REVIEW_POSTS)
def calendar_undo() -> Any:
    """Take back a bulk publish or cancel: the posts return to the review queue."""
    core = crisis()
    offer = undo_offer(request.form.get("token"), core.clock.now())
    if offer is None:
        flash("Too late to undo: the posts have gone their way. Check Recently published.", "error")
        return redirect(url_for("ui.calendar_page"))
    back = core.calendar.undo_review(
        actor=acting(), post_ids=offer["ids"], action=offer["action"], stamp=offer["stamp"]
    )
    missed = len(offer["ids"]) - len(back)
    flash(
        f"Undone: {len(back)} post(s) back in the review queue"
        + (f"; {missed} had changed since and were left as they are." if missed else "."),
        "ok" if back else "error",
    )
    return redirect(url_for("ui.calendar_page"))


@bp.post("/calendar/platform-review")
@requires(Perm.REVIEW_POSTS)
def platform_review() -> Any:
    """Publish, reschedule or cancel one item waiting on a marketing platform."""
    action = request.form.get("action", "")
    item = request.form.get("item_id", "")
    when = read_local(request.form.get("send_at", "")) if action == "reschedule" else None
    try:
        out = crisis().platforms.review_item(
            actor=acting(), item_id=int(item) if item.isdigit() else -1, action=action, send_at=when
        )
        flash(f"{action.capitalize()}: {out['title']} on {out['connector']}.", "ok")
    except (Conflict, NotFound, ValidationFailed) as exc:
        flash(f"item {item}: {exc}", "error")
    return redirect(url_for("ui.calendar_page"))
