"""JSON shapes of engine records, shared by the API, the CLI and server-sent events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.kernel.models import Event, Incident
from engine.playbooks.playbook import Playbook
from web.timeline import describe


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def incident_json(
    i: Incident,
    pb: Playbook,
    *,
    escalation: dict[str, Any] | None = None,
    freezes: list[int] | None = None,
) -> dict[str, Any]:
    return {
        "id": i.id,
        "ref": i.ref,
        "playbook": i.playbook_id,
        "playbook_version": i.playbook_version,
        "title": i.title,
        "severity": i.severity,
        "state": i.state,
        "allowed_triggers": list(pb.allowed_triggers(i.state)),
        "regions": list(i.regions),
        "services": list(i.services),
        "summary": i.summary,
        "declared_by": i.declared_by,
        "declared_at": rfc3339(i.declared_at),
        "owner": i.owner,
        "acknowledged_at": rfc3339(i.acknowledged_at),
        "resolved_at": rfc3339(i.resolved_at),
        "next_update_due_at": rfc3339(i.next_update_due_at),
        "escalation": None
        if escalation is None
        else {
            "step": escalation["step"],
            "next_at": rfc3339(escalation["next_at"]),
            "exhausted": escalation["exhausted"],
            "stopped": escalation["stopped"],
        },
        "freezes": list(freezes or []),
    }


def event_json(e: Event, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An event; ``summary`` is the sentence the pages show (``web.timeline``)."""
    return {
        "seq": e.seq,
        "type": e.type,
        "actor": e.actor,
        "at": rfc3339(e.at),
        "data": dict(e.data),
        "summary": describe(e, names),
        "hash": e.hash,
    }


def post_out(p: dict[str, Any]) -> dict[str, Any]:
    return p | {
        "publish_at": rfc3339(p["publish_at"]),
        "published_at": rfc3339(p.get("published_at")),
    }


def freeze_out(f: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in f.items() if k != "posts"} | {
        "created_at": rfc3339(f["created_at"]),
        "lifted_at": rfc3339(f.get("lifted_at")),
    }
    if "connectors" in f:
        out["connectors"] = [
            run | {k: rfc3339(run[k]) for k in ("last_scan_at", "confirmed_at", "alerted_at")}
            for run in f["connectors"]
        ]
    return out


def external_item_out(i: dict[str, Any]) -> dict[str, Any]:
    return i | {"send_at": rfc3339(i.get("send_at")), "paused_at": rfc3339(i.get("paused_at"))}
