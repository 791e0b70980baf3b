"""Admin pages: users and roles, API tokens (shown once), playbooks and their lifecycles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from engine.incidents import lifecycle
from engine.kernel.errors import Conflict, NotFound, PlaybookInvalid, ValidationFailed
from engine.kernel.roles import ROLES, Perm
from engine.playbooks.loading import load_file, playbook_files
from engine.playbooks.playbook import Playbook
from web import diagram
from web.auth import acting, crisis, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _no_store(body: str, status: int = 200) -> Any:
    return body, status, {"Cache-Control": "no-store"}


@bp.get("/")
@requires(Perm.ADMIN)
def index() -> Any:
    """Send admins to the users page."""
    return redirect(url_for("admin.users"))


@bp.get("/limits")
@requires(Perm.ADMIN)
def limits() -> Any:
    """Show what the shared rate limits counted in the last day; clear a login throttle."""
    rows = crisis().accounts.throttles(hours=24)
    page = current_app.extensions["crisis.status_page"]
    totals = {
        medium: sum(int(r["count"]) for r in rows if r["bucket"] == f"confirm-{medium}")
        for medium in ("sms", "email")
    }
    return _no_store(
        render_template(
            "admin_limits.html",
            rows=rows,
            totals=totals,
            policy=page.policy,
            users=crisis().accounts.list_users(),
        )
    )


@bp.post("/limits/login")
@requires(Perm.ADMIN)
def clear_login() -> Any:
    """Let an account log in again at once from every client."""
    username = request.form.get("username", "")
    n = crisis().accounts.clear_login_throttle(actor=acting(), username=username)
    flash(f"Cleared {n} failed login(s) counted for {username}.", "ok")
    return redirect(url_for("admin.limits"), code=303)


@bp.get("/users")
@requires(Perm.ADMIN)
def users(errors: dict[str, str] | None = None, status: int = 200) -> Any:
    """List users with their roles; add a user; change a role; deactivate."""
    return (
        render_template(
            "admin_users.html",
            users=crisis().accounts.list_users(),
            slack=crisis().accounts.slack_links(),
            roles=ROLES,
            errors=errors or {},
            form=request.form,
        ),
        status,
    )


@bp.post("/users")
@requires(Perm.ADMIN)
def add_user() -> Any:
    """Add a user (a password lets them log in; automation users have none)."""
    f = request.form
    try:
        user = crisis().accounts.add_user(
            actor=acting(),
            username=f.get("username", "").strip(),
            role=f.get("role", ""),
            name=f.get("name", "").strip() or None,
            password=f.get("password") or None,
            email=f.get("email", "").strip() or None,
            phone=f.get("phone", "").strip() or None,
        )
    except ValidationFailed as exc:
        return users({k: str(v) for k, v in exc.details.items()}, 422)
    except Conflict as exc:
        return users({"username": str(exc)}, 409)
    flash(f"Added {user.username} ({user.role}).")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<username>")
@requires(Perm.ADMIN)
def change_user(username: str) -> Any:
    """Change a user's role, or deactivate / reactivate them, or set a new password."""
    f = request.form
    action = f.get("action", "")
    try:
        if action == "role":
            crisis().accounts.update_user(actor=acting(), username=username, role=f.get("role", ""))
        elif action in ("deactivate", "activate"):
            crisis().accounts.update_user(
                actor=acting(), username=username, active=action == "activate"
            )
        elif action == "slack":
            crisis().accounts.update_user(
                actor=acting(), username=username, slack_user=f.get("slack_user", "").strip()
            )
        elif action == "password":
            crisis().accounts.update_user(
                actor=acting(), username=username, password=f.get("password", "")
            )
        else:
            raise ValidationFailed(
                "unknown action",
                details={"action": "role, activate, deactivate, slack or password"},
            )
    except ValidationFailed as exc:
        flash("; ".join(str(v) for v in exc.details.values()) or str(exc), "error")
    except Conflict as exc:
        flash(str(exc), "error")
    else:
        flash(f"Changed {username}.")
    return redirect(url_for("admin.users"), code=303)


@bp.get("/tokens")
@requires(Perm.ADMIN)
def tokens() -> Any:
    """List API tokens (never their secrets) and create new ones."""
    return _no_store(
        render_template(
            "admin_tokens.html",
            tokens=crisis().accounts.list_tokens(),
            users=crisis().accounts.list_users(),
        )
    )


@bp.post("/tokens")
@requires(Perm.ADMIN)
def create_token() -> Any:
    """Create a token: its secret is shown on this page once and stored only as a hash."""
    f = request.form
    username = f.get("username", "")
    try:
        token_id, secret = crisis().accounts.create_token(
            actor=acting(),
            username=username,
            name=f.get("name", ""),
            scope=f.get("scope", "full") or "full",
        )
    except (ValidationFailed, NotFound) as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.tokens"), code=303)
    return _no_store(
        render_template(
            "admin_tokens.html",
            tokens=crisis().accounts.list_tokens(),
            users=crisis().accounts.list_users(),
            created={"id": token_id, "secret": secret, "username": username},
        ),
        201,
    )


@bp.post("/tokens/<int:token_id>/revoke")
@requires(Perm.ADMIN)
def revoke_token(token_id: int) -> Any:
    """Revoke a token at once: the next request that carries it gets 401."""
    crisis().accounts.revoke_token(actor=acting(), token_id=token_id)
    flash(f"Token {token_id} revoked.")
    return redirect(url_for("admin.tokens"), code=303)


@dataclass(frozen=True)
class FileStatus:
    path: str
    playbook: Playbook | None
    problems: tuple[str, ...]
    in_force: str | None  # the version in force for this id, if any

    @property
    def name(self) -> str:
        """The file's name; the page names its folder once."""
        return Path(self.path).name


def _files() -> list[FileStatus]:
    catalog = crisis().catalog
    current = {pb.id: pb.version for pb in catalog.all()}
    out = []
    for root in catalog.paths:
        for f in playbook_files(root):
            try:
                pb = load_file(f, channels=catalog.channels)
            except PlaybookInvalid as exc:
                out.append(FileStatus(str(f), None, tuple(str(p) for p in exc.problems), None))
                continue
            out.append(FileStatus(str(f), pb, (), current.get(pb.id)))
    return out


@bp.get("/playbooks")
@requires(Perm.ADMIN)
def playbooks() -> Any:
    """Show each playbook file: valid or not (file:line:col), and the version in force."""
    catalog = crisis().catalog
    return render_template(
        "admin_playbooks.html", files=_files(), current=catalog.all(),
        folders=[str(p) for p in catalog.paths],
    )  # fmt: skip


@bp.post("/playbooks/reload")
@requires(Perm.ADMIN)
def reload_playbooks() -> Any:
    """Load the playbooks from disk again: all of them, or none if any is invalid."""
    try:
        changed = crisis().catalog.reload()
    except PlaybookInvalid as exc:
        flash(
            f"Refused: {len(exc.problems)} problem(s); the playbooks in force are unchanged. "
            + str(exc.problems[0]),
            "error",
        )
    else:
        flash(f"Reloaded; changed: {', '.join(changed) or 'none'}.")
    return redirect(url_for("admin.playbooks"), code=303)


@bp.get("/playbooks/<playbook_id>")
@requires(Perm.ADMIN)
def playbook(playbook_id: str) -> Any:
    """Show one playbook in force: its lifecycle diagram, guards, triggers and audiences."""
    pb = crisis().catalog.current(playbook_id)
    return render_template(
        "admin_playbook.html",
        pb=pb,
        svg=Markup(diagram.svg(pb)),
        mermaid=lifecycle.mermaid(pb),
    )
