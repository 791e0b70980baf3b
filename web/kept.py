"""A form sent after its session ended loses nothing: the text is shown back, and kept
across logging in again.

A comms lead drafts for twenty minutes, the session has ended (12 hours, a logout elsewhere,
a new password), and Send answered a bare 403: the text was gone. Now a form posted to a page
without a live session (or with a stale CSRF token) gets a page that says what happened, shows
the text typed, and offers to log in again (or, still logged in, to send it again). Logging in
from there brings the form back once, on the page it came from, without ``confirmed`` — so
anything that would go out at once asks again.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, render_template, request, session

from web.auth import current_user, safe_next
from web.errors import SessionEnded

MAX_KEPT = 3000  # characters kept across the login (the session is a cookie of about 4 KB)
NEVER_KEPT = frozenset({"csrf_token", "password", "confirmed"})
TEXT_FIELDS = ("body", "note", "reason", "title", "summary")


def _fields() -> list[tuple[str, str]]:
    return [
        (k, v) for k, v in request.form.items(multi=True) if k not in NEVER_KEPT and len(k) <= 64
    ]


def _texts(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The fields a person typed at length: what they would hate to type again."""
    return [(k, v) for k, v in fields if v.strip() and (k in TEXT_FIELDS or k.startswith("text-"))]


def _back() -> str:
    """The page the form was on (same site only), to return to after logging in."""
    ref = request.referrer or ""
    host = request.host_url.rstrip("/")
    return safe_next(ref[len(host) :] if ref.startswith(host + "/") else None)


def ended() -> Any:
    """The page for a form that came too late: its text, and the way back in."""
    fields = _fields()
    blob = json.dumps({"action": request.path, "fields": fields}, ensure_ascii=False)
    user = current_user()
    return render_template(
        "session_ended.html",
        logged_in=user is not None,
        texts=_texts(fields),
        fields=fields,
        action=request.path,
        back=_back(),
        kept=blob if len(blob) <= MAX_KEPT else "",
    ), 401 if user is None else 403


def keep(blob: str) -> None:
    """After a successful login: hold the form for one page view (if it is one of ours)."""
    try:
        data = json.loads(blob)
        action = str(data["action"])
        fields = [(str(k), str(v)) for k, v in data["fields"]][:100]
    except (ValueError, KeyError, TypeError):
        return
    if len(blob) > MAX_KEPT or safe_next(action) != action:
        return
    session["kept"] = {"action": action, "fields": [f for f in fields if f[0] not in NEVER_KEPT]}


def kept_form() -> dict[str, Any] | None:
    """The form kept across a login, once: shown on the next page, then forgotten."""
    if current_user() is None or "kept" not in session:
        return None
    data: dict[str, Any] = session.pop("kept")
    fields = [(str(k), str(v)) for k, v in data.get("fields", [])]
    return {"action": data.get("action", "/"), "fields": fields, "texts": _texts(fields)}


def init_app(app: Flask) -> None:
    app.register_error_handler(SessionEnded, lambda _exc: ended())
    app.jinja_env.globals["kept_form"] = kept_form
