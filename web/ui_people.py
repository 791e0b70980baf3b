"""The pages about people: who is on call for each role (now and next), and one's own profile
(the time zone every page shows times in)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from engine.kernel.errors import ValidationFailed
from engine.kernel.roles import Perm
from web.api import people_names
from web.auth import acting, crisis, current_user, requires
from web.localtime import COOKIE, zone_names
from web.ui import bp, refused


@bp.get("/oncall")
@requires(Perm.READ)
def oncall() -> Any:
    """Show who holds each role now, who takes over next and when, and each role's members."""
    core = crisis()
    names = people_names()
    roles = [
        r
        | {
            "now": [names.get(n, n) for n in r["on_call"]],
            "then": [names.get(n, n) for n in (r["next"] or {}).get("on_call", [])],
            "people": [names.get(n, n) for n in r["members"]],
        }
        for r in core.roster.roster()
    ]
    return render_template("oncall.html", roles=roles, now=core.clock.now())


@bp.route("/me", methods=["GET", "POST"])
@requires(Perm.READ)
def profile() -> Any:
    """Show the caller's profile; set the time zone their pages use."""
    if request.method == "POST":
        try:
            crisis().accounts.set_time_zone(
                actor=acting(), timezone=request.form.get("timezone", "")
            )
        except ValidationFailed as exc:
            refused("Not saved", exc)
        else:
            flash("Saved: times are shown in your new zone.", "ok")
        return redirect(url_for("ui.profile"), code=303)
    user = current_user()
    assert user is not None
    return render_template(
        "profile.html",
        user=user,
        zones=zone_names(),
        browser_zone=request.cookies.get(COOKIE, ""),
    )
