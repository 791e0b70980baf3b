"""Times as each person reads them: in their own zone, with UTC on hover, and inputs read there.

The zone is the user's profile setting; a profile left on "follow my browser" (an empty
zone) uses the zone the browser reports (the ``tz`` cookie app.js sets), else UTC. Every
time a page shows carries its zone's abbreviation ("03:05 GMT"), so a screenshot pasted into
a chat still says which clock it means.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import Flask, g, request
from markupsafe import Markup, escape

from web.auth import current_user

COOKIE = "tz"
STYLES = {
    "time": "%H:%M",
    "seconds": "%H:%M:%S",
    "day": "%a %d %b %H:%M",
    "date": "%d %b %H:%M",
    "full": "%Y-%m-%d %H:%M",
}


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo | None:
    """The zone an IANA name names (``Europe/London``), or None for an unknown or empty one."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """Every zone a person may choose, sorted (the profile's list)."""
    return sorted(n for n in available_timezones() if "/" in n and not n.startswith("Etc/"))


def viewer_zone() -> tzinfo:
    """The zone this request's person reads times in: profile, else browser, else UTC."""
    cached: tzinfo | None = g.get("viewer_zone")
    if cached is not None:
        return cached
    user = current_user()
    zone = (zone_named(user.timezone) if user else None) or zone_named(
        request.cookies.get(COOKIE, "")
    )
    found: tzinfo = zone or UTC
    g.viewer_zone = found
    return found


def zone_label() -> str:
    """The viewer's zone for labels next to inputs: ``Europe/London``, or ``UTC``."""
    zone = viewer_zone()
    return str(getattr(zone, "key", "UTC"))


def at(value: datetime | None, style: str = "time") -> Markup:
    """``<time datetime=… title="11:52 UTC">12:52 CET</time>``; empty for no time."""
    if value is None:
        return Markup("")
    if value.tzinfo is None:  # stored times are UTC; a naive one is read as UTC
        value = value.replace(tzinfo=UTC)
    fmt = STYLES.get(style, style)
    utc = value.astimezone(UTC)
    local = value.astimezone(viewer_zone())
    shown = f"{local.strftime(fmt)} {local.tzname() or ''}".strip()
    title = f"{utc.strftime(STYLES['full'] if style in ('time', 'seconds') else fmt)} UTC"
    iso = utc.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        escape(iso), escape(title), escape(shown)
    )


def read_local(text: str) -> datetime | None:
    """A ``datetime-local`` form value read in the viewer's zone, as UTC (None if unreadable)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=viewer_zone())
    return value.astimezone(UTC)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["at"] = at
    app.jinja_env.globals["zone_label"] = zone_label
