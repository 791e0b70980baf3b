"""Account rules: the login backoffs, token scopes, what a role or password must be (pure)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.kernel.backoff import Backoff
from engine.kernel.roles import ROLES

TOKEN_SCOPES = ("full", "read", "metrics", "monitoring")
SLACK_MEMBER = re.compile(r"[UW][A-Z0-9]{6,20}")  # a Slack member id: U… (or W… on Enterprise Grid)
TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most once a minute
LOGIN_PAIR = Backoff(5, timedelta(seconds=1), timedelta(minutes=5), timedelta(minutes=15))
LOGIN_CLIENT = Backoff(20, timedelta(seconds=2), timedelta(minutes=15), timedelta(minutes=15))
LOGIN_ACCOUNT = Backoff(50, timedelta(seconds=1), timedelta(minutes=1), timedelta(minutes=15))


def login_keys(username: str, client: str) -> list[tuple[str, str, Backoff]]:
    """The three counts a login attempt is throttled by: (bucket, key, rule)."""
    return [
        ("login-pair", f"{username}|{client}", LOGIN_PAIR),
        ("login-client", client or "-", LOGIN_CLIENT),
        ("login-account", username, LOGIN_ACCOUNT),
    ]


def user_problems(*, role: str | None, password: str | None) -> dict[str, str]:
    """What is wrong with a role or password given for a user (None: not given)."""
    problems: dict[str, str] = {}
    if role is not None and role not in ROLES:
        problems["role"] = f"unknown role {role!r} (roles: {', '.join(ROLES)})"
    if password is not None and len(password) < 8:
        problems["password"] = "use at least 8 characters"
    return problems


def zone_problem(name: str) -> str | None:
    """What is wrong with a time zone name (``""`` is "follow my browser"), or None."""
    if name == "":
        return None
    if len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return "an IANA time zone, e.g. Europe/London"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (use an IANA name, e.g. Europe/London)"
    return None
