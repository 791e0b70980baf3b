"""What a declaration or an amendment may say: one rule per field, pure (no I/O, no clock).

Declare (API, form, CLI), amend and alerts all pass through these, so a title or a region is
checked the same way at every entrance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.kernel.errors import ValidationFailed
from engine.kernel.text import PROBLEM, UNSTORABLE
from engine.playbooks.places import Places
from engine.playbooks.playbook import Playbook

MAX_TITLE = 300
MAX_SUMMARY = 5000  # one limit at every entrance: API, form, CLI, alerts (truncated there)


def check_declaration(
    pb: Playbook,
    severity: str,
    title: str,
    regions: Sequence[str],
    services: Sequence[str],
    *,
    places: Places,
    summary: str = "",
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Validate what a declaration names; return the cleaned title, regions and services."""
    problems: dict[str, str] = {}
    check_severity(pb, severity, problems)
    title = clean_title(title, problems)
    check_summary(summary, problems)
    cleaned_regions = clean_list(places, "regions", regions, problems)
    cleaned_services = clean_list(places, "services", services, problems)
    if problems:
        raise ValidationFailed("the incident could not be declared", details=problems)
    return title, cleaned_regions, cleaned_services


def check_severity(pb: Playbook, severity: str, problems: dict[str, str]) -> None:
    if severity not in pb.severities:
        problems["severity"] = (
            f"unknown severity {severity!r} for {pb.id} (choose {', '.join(pb.severities)})"
        )


def check_summary(summary: str, problems: dict[str, str]) -> None:
    if len(summary) > MAX_SUMMARY:
        problems["summary"] = f"keep the summary under {MAX_SUMMARY} characters"
    elif UNSTORABLE.search(summary):
        problems["summary"] = f"the summary {PROBLEM}"


def clean_title(title: str, problems: dict[str, str]) -> str:
    """The one title rule (declare, amend, alerts): spaces folded, 1 to MAX_TITLE characters."""
    title = " ".join(title.split())
    if UNSTORABLE.search(title):
        problems["title"] = f"the title {PROBLEM}"
    elif not title:
        problems["title"] = "give the incident a short title"
    elif len(title) > MAX_TITLE:
        problems["title"] = f"keep the title under {MAX_TITLE} characters"
    return title


def clean_list(
    places: Places, kind: str, values: Sequence[str], problems: dict[str, str]
) -> tuple[str, ...]:
    """The registry ids of ``values``; a problem naming the known ones for any unknown."""
    if not isinstance(values, str | list | tuple):
        problems[kind] = f"{kind} is a list of names"
        return ()
    ids, unknown = places.resolve(kind, values)
    if unknown:
        problems[kind] = places.problem(kind, unknown)
        return ()
    return tuple(ids)


def json_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value
