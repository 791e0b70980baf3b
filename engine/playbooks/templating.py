"""The sandboxed Jinja2 environment every message template renders in.

Templates come from playbook authors, so they run in a SandboxedEnvironment with
StrictUndefined: a missing variable is an error at validation time, not an empty gap in an
SMS sent to 10,000 people.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_VARIABLES = frozenset(
    {"incident", "playbook", "next_update_at", "audience", "locale", "now", "update", "note"}
)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def hhmm(value: datetime | None, zone: str | None = None) -> str:
    """Format a time as ``HH:MM`` in ``zone`` (default UTC), e.g. ``22:15``."""
    if value is None:
        return ""
    return value.astimezone(_zone(zone)).strftime("%H:%M")


def local_time(value: datetime | None, zone: str | None = None, fmt: str = "%H:%M %Z") -> str:
    """Format a time in ``zone`` with a strftime pattern (default ``22:15 CET``)."""
    if value is None:
        return ""
    return value.astimezone(_zone(zone)).strftime(fmt)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """Return the shared sandboxed environment (built once; it holds no per-call state)."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
    env.filters["hhmm"] = hhmm
    env.filters["local_time"] = local_time
    return env


def undeclared_variables(source: str) -> set[str]:
    """Names a template reads that are not set inside it; raises TemplateSyntaxError."""
    from jinja2 import meta

    ast: nodes.Template = environment().parse(source)
    return set(meta.find_undeclared_variables(ast))


def check_template(source: str) -> tuple[int, str] | None:
    """Return ``(line, message)`` for the first problem in ``source``, or None when it is fine."""
    from jinja2 import TemplateError, TemplateSyntaxError

    try:
        unknown = undeclared_variables(source) - TEMPLATE_VARIABLES
        environment().from_string(source)  # compiles filters and tests: unknown ones fail here
    except TemplateSyntaxError as exc:
        return (exc.lineno or 1, f"template does not compile: {exc.message}")
    except TemplateError as exc:
        return (1, f"template does not compile: {exc}")
    if unknown:
        names = ", ".join(sorted(unknown))
        allowed = ", ".join(sorted(TEMPLATE_VARIABLES))
        return (1, f"template uses unknown variable(s) {names} (available: {allowed})")
    return None
