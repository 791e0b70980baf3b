"""Who is calling: a session cookie (people) or a bearer token (scripts, monitoring).

CSRF: every state-changing request made with the session cookie must carry the session's
CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``). Bearer-token requests
carry no ambient credentials and are exempt, as are the signed inbound hooks.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from engine.app import Crisis
from engine.kernel.errors import NotFound
from engine.kernel.models import Actor, User
from engine.kernel.roles import Perm, may
from web.errors import ApiError, SessionEnded

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Hooks are signed or token-checked; unsubscribe links carry their own capability token and
# must accept RFC 8058 one-click POSTs from mail clients.
CSRF_EXEMPT_PREFIXES = ("/hooks/", "/status/unsubscribe/")


def crisis() -> Crisis:
    core: Crisis = current_app.extensions["crisis.core"]
    return core


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def safe_next(target: str | None) -> str:
    """Only follow redirects to paths on this site."""
    if not target:
        return url_for("ui.board")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.board")
    return target


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def current_actor() -> Actor | None:
    user = current_user()
    return user.as_actor() if user else None


def acting() -> Actor:
    """The caller of a view that ``@requires`` a permission (so never anonymous)."""
    actor = current_actor()
    if actor is None:  # a view without @requires called this: a programming error
        raise ApiError(401, "log in or send Authorization: Bearer <token>")
    return actor


def log_in(user: User) -> None:
    session.clear()
    session["uid"] = user.username
    session["sv"] = user.session_version
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


def log_out() -> None:
    """End this session, and every copy of its cookie: the user's session version moves on."""
    username = session.get("uid")
    session.clear()
    if username:
        crisis().accounts.end_sessions(username=username)


def _identify() -> None:
    g.user = None
    g.via = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        username = None
        if scheme.lower() == "basic":  # Alertmanager's basic_auth: the password is a token
            username, token = _basic(token)
        elif scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "use Authorization: Bearer <token>")
        found = crisis().accounts.token_identity(token=token.strip())
        if found is None or (username is not None and username != found[0].username):
            raise ApiError(401, "that token is unknown or revoked")
        user, scope = found
        _check_scope(scope)
        g.user, g.via = user, "token"
        return
    if request.endpoint in current_app.config.get("ANONYMOUS_ENDPOINTS", ()):
        return  # the same answer for everyone: the session is not even looked at
    username = session.get("uid")
    if username:
        try:
            user = crisis().accounts.find_user(username=username)
        except NotFound:  # a deleted user is simply logged out
            session.clear()
            return
        if user.active and session.get("sv") == user.session_version:
            g.user, g.via = user, "session"
        else:  # deactivated, logged out elsewhere, new password or role: log in again
            session.clear()


def _check_scope(scope: str) -> None:
    """A token's scope narrows its user's role: read-only, metrics, monitoring hooks, or full."""
    path = request.path
    allowed = {
        "full": True,
        "read": request.method in SAFE_METHODS and not path.startswith("/hooks/"),
        "metrics": path == "/metrics",
        "monitoring": path.startswith(("/hooks/alertmanager", "/hooks/webhook/")),
    }.get(scope, False)
    if not allowed:
        raise ApiError(
            403,
            f"this token's scope ({scope}) does not allow {request.method} {path}",
            details={"scope": scope},
        )


def _basic(credentials: str) -> tuple[str, str]:
    """Split HTTP basic credentials into (username, password)."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, "the basic credentials are not valid base64") from None
    username, sep, password = decoded.partition(":")
    if not sep or not password:
        raise ApiError(401, "basic auth needs a username and a token as the password")
    return username, password


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    if g.get("via") == "token":
        return
    if request.path.startswith("/api/") and g.get("via") is None:
        return  # no credentials at all: the view answers 401
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        if _typed_into_a_page():
            raise SessionEnded()  # keep what was typed (web.kept)
        raise ApiError(
            403,
            "the form expired or was not sent from this site: reload and retry",
            code="csrf_failed",
        )


def _typed_into_a_page() -> bool:
    """A staff page's form with something in it besides its token (not the API, the hooks,
    the public pages or the login form itself)."""
    if request.method in SAFE_METHODS or request.path.startswith(
        ("/api/", "/hooks/", "/status", "/login", "/logout")
    ):
        return False
    return any(k != "csrf_token" for k in request.form)


def requires_token(view: F) -> F:
    """Refuse a session cookie: machine hooks take tokens only (no ambient credentials)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("via") != "token":
            raise ApiError(401, "this hook takes a token: Authorization: Bearer <token>")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def requires(perm: Perm) -> Callable[[F], F]:
    """Refuse the view unless the caller is known (401) and carries ``perm`` (403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith(("/api/", "/hooks/", "/metrics")):
                    raise ApiError(401, "log in or send Authorization: Bearer <token>")
                if _typed_into_a_page():
                    raise SessionEnded()  # keep what was typed (web.kept)
                return redirect(url_for("ui.login", next=request.full_path))
            if not may(user.role, perm):
                raise ApiError(
                    403, f"the {user.role} role may not do this", details={"required": perm.value}
                )
            return view(*args, **kwargs)

        wrapper.required_perm = perm  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


class _Sessions(SecureCookieSessionInterface):
    """The session cookie, except on shared public reads: there it is neither read nor
    refreshed (no ``Set-Cookie``, no ``Vary: Cookie``), so caches may keep the answer."""

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if request.endpoint in app.config.get("ANONYMOUS_ENDPOINTS", ()):
            return
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = _Sessions()
    app.before_request(_identify)
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user
