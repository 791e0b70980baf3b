"""The REST API, ``/api/v1`` (the contract is shared/API.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request, stream_with_context

from engine.kernel.models import Incident
from engine.kernel.roles import Perm
from engine.store import DatabaseError
from web import live
from web.apispec import Api, query_int
from web.auth import acting, crisis
from web.present import event_json, incident_json
from web.schemas import (
    AMEND_IN,
    DECLARE_IN,
    EVENT,
    INCIDENT,
    TRANSITION_IN,
    page_of,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
api = Api(bp)

SSE_WINDOW_SECONDS = 55.0


def _incident(incident_id: int, known: Incident | None = None) -> dict[str, Any]:
    """The incident as the API shows it: ``known`` (what a command just returned, read in its
    transaction) or read now; its playbook, ladder and freezes on one connection."""
    core = crisis()
    inc = known or core.incidents.get(incident_id=incident_id)
    playbook, escalation, freezes = core.incidents.listing_details([inc])[inc.id]
    return incident_json(inc, playbook, escalation=escalation, freezes=freezes)


def created(body: dict[str, Any], location: str) -> Any:
    """A 201 answer with a Location header."""
    resp = jsonify(body)
    resp.status_code = 201
    resp.headers["Location"] = location
    return resp


@api.operation(
    "/incidents",
    "POST",
    perm=Perm.DECLARE,
    summary="Declare an incident.",
    body=DECLARE_IN,
    response=INCIDENT,
    status=201,
    errors=(404, 422),
)
def declare() -> Any:
    """Declare an incident under a playbook."""
    b = g.body
    inc = crisis().incidents.declare(
        actor=acting(),
        playbook=b["playbook"],
        severity=b["severity"],
        title=b["title"],
        regions=b.get("regions", []),
        services=b.get("services", []),
        summary=b.get("summary", ""),
    )
    return created(_incident(inc.id, inc), f"/api/v1/incidents/{inc.id}")


@api.operation(
    "/incidents",
    "GET",
    perm=Perm.READ,
    summary="List incidents, newest first.",
    response=page_of(INCIDENT),
    errors=(422,),
    query={
        "state": {"type": "string", "enum": ["open", "resolved", "all"]},
        "severity": {"type": "string"},
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
    },
)
def list_incidents() -> Any:
    """List incidents, newest first."""
    core = crisis()
    state = request.args.get("state", "open")
    page = core.incidents.list_incidents(
        state=state,
        severity=request.args.get("severity") or None,
        page=query_int("page", 1, lo=1, hi=100_000),
        per_page=query_int("per_page", 50, lo=1, hi=200),
    )
    details = core.incidents.listing_details(page.items)
    return jsonify(
        {
            "items": [
                incident_json(
                    i,
                    details[i.id][0],
                    escalation=details[i.id][1],
                    freezes=details[i.id][2],
                )
                for i in page.items
            ],
            "page": page.page,
            "per_page": page.per_page,
            "total": page.total,
        }
    )


@api.operation(
    "/incidents/<int:incident_id>",
    "GET",
    perm=Perm.READ,
    summary="Show one incident.",
    response=INCIDENT,
    errors=(404,),
)
def get_incident(incident_id: int) -> Any:
    """Show one incident."""
    return jsonify(_incident(incident_id))


@api.operation(
    "/incidents/<int:incident_id>",
    "PATCH",
    perm=Perm.TRANSITION,
    summary="Change severity, title, regions or summary.",
    body=AMEND_IN,
    response=INCIDENT,
    errors=(404, 422),
)
def amend_incident(incident_id: int) -> Any:
    """Change an incident's severity, title, regions or summary."""
    b = g.body
    inc = crisis().incidents.amend(
        actor=acting(),
        incident_id=incident_id,
        severity=b.get("severity"),
        title=b.get("title"),
        regions=b.get("regions"),
        summary=b.get("summary"),
    )
    return jsonify(_incident(incident_id, inc))


@api.operation(
    "/incidents/<int:incident_id>/transitions",
    "POST",
    perm=Perm.TRANSITION,
    summary="Fire a lifecycle trigger.",
    body=TRANSITION_IN,
    response=INCIDENT,
    errors=(404, 409),
)
def transition(incident_id: int) -> Any:
    """Fire a lifecycle trigger on an incident."""
    inc = crisis().incidents.fire(
        actor=acting(), incident_id=incident_id, trigger=g.body["trigger"], note=g.body.get("note")
    )
    return jsonify(_incident(incident_id, inc))


@api.operation(
    "/incidents/<int:incident_id>/acknowledge",
    "POST",
    perm=Perm.READ,  # the engine decides: operators, and anyone this incident paged
    summary="Acknowledge: take ownership and stop paging.",
    response=INCIDENT,
    errors=(403, 404, 409),
)
def acknowledge(incident_id: int) -> Any:
    """Acknowledge an incident (idempotent for its owner)."""
    via = "api" if g.get("via") == "token" else "web"
    inc = crisis().incidents.acknowledge(actor=acting(), incident_id=incident_id, via=via)
    return jsonify(_incident(incident_id, inc))


def people_names() -> dict[str, str]:
    """Usernames → the names people know them by, for the timeline's sentences; and
    ``region:<id>`` → the region's display name ("region:lille" → "Lille")."""
    core = crisis()
    regions = {f"region:{k}": v for k, v in core.places.regions.items()}
    return regions | {u.username: u.name or u.username for u in core.accounts.list_users()}


@api.operation(
    "/incidents/<int:incident_id>/timeline",
    "GET",
    perm=Perm.READ,
    summary="The incident's hash-chained timeline.",
    response=page_of(EVENT),
    errors=(404,),
    query={"after": {"type": "integer", "minimum": 0}},
)
def timeline(incident_id: int) -> Any:
    """List an incident's timeline events in order."""
    after = query_int("after", 0, lo=0, hi=10**9)
    names = people_names()
    items = [
        event_json(e, names)
        for e in crisis().incidents.timeline(incident_id=incident_id, after_seq=after)
    ]
    return jsonify({"items": items, "page": 1, "per_page": len(items), "total": len(items)})


@api.operation(
    "/incidents/<int:incident_id>/events",
    "GET",
    perm=Perm.READ,
    summary="Server-sent events: new timeline events as they happen.",
    response={"type": "string"},
    produces="text/event-stream",
    errors=(404,),
)
def events(incident_id: int) -> Any:
    """Stream new timeline events (resume with Last-Event-ID)."""
    core = crisis()
    core.incidents.get(incident_id=incident_id)  # 404 before the stream starts
    try:
        after = int(request.headers.get("Last-Event-ID") or request.args.get("after") or 0)
    except ValueError:
        after = 0

    bus = live.bus()
    seen = bus.version(incident_id)
    names = people_names()

    def stream() -> Iterator[str]:
        nonlocal after, seen
        deadline = time.monotonic() + SSE_WINDOW_SECONDS
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            try:
                new = core.incidents.timeline(incident_id=incident_id, after_seq=after)
            except DatabaseError:  # the database is restarting: keep the stream open
                new = []
            for e in new:
                after = e.seq
                data = html_safe_json(event_json(e, names))
                yield f"id: {e.seq}\nevent: timeline\ndata: {data}\n\n"
            yield ": keep-alive\n\n"
            seen = bus.wait(incident_id, seen)  # a NOTIFY from any process, or a poll

    return Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def html_safe_json(value: Any) -> str:
    """JSON with <, > and & escaped, so no markup survives even if a client misuses it."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@bp.get("/openapi.json")
def openapi() -> Any:
    """Serve the OpenAPI document generated from the operations above."""
    return jsonify(api.openapi(title="crisiscomms API", version="1"))


@bp.get("/docs")
def docs() -> Any:
    """Show the API as a readable page."""
    return render_template("api_docs.html", spec=api.openapi(title="crisiscomms API", version="1"))
