"""Parse and print the short durations playbooks use (``90s``, ``10m``, ``1h30m``, ``2d``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"^(?:\d+[dhms])+$")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Return the duration ``text`` names; raise ValueError with a hint otherwise."""
    compact = text.strip().replace(" ", "")
    if compact == "0":
        return timedelta(0)
    if not _WHOLE.match(compact):
        raise ValueError(f"{text!r} is not a duration (use 10m, 1h30m)")
    seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Return the shortest playbook spelling of ``value`` (``1h30m``)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0m"
    out = []
    for unit, size in _UNIT.items():
        n, total = divmod(total, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
