"""Operational updates in the REST API (``/api/v1``)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from engine.kernel.roles import Perm
from web.api import api, created
from web.auth import acting, crisis
from web.present import rfc3339
from web.schemas import (
    APPROVE_IN,
    CORRECTION_IN,
    PREVIEW,
    REJECT_IN,
    REVISE_IN,
    UPDATE,
    UPDATE_IN,
    page_of,
)


def update_out(u: dict[str, Any]) -> dict[str, Any]:
    approvals = [a | {"at": rfc3339(a["at"])} for a in u["approvals"]]
    return u | {
        "approvals": approvals,
        "created_at": rfc3339(u["created_at"]),
        "published_at": rfc3339(u["published_at"]),
    }


@api.operation(
    "/incidents/<int:incident_id>/updates",
    "POST",
    perm=Perm.DRAFT,
    summary="Draft an update (pre-approved templates go out at once).",
    body=UPDATE_IN,
    response=UPDATE,
    status=201,
    errors=(404, 422),
)
def draft_update(incident_id: int) -> Any:
    """Draft an operational update from a template or free text."""
    b = g.body
    u = crisis().updates.draft_update(
        actor=acting(),
        incident_id=incident_id,
        audience=b["audience"],
        template=b.get("template"),
        body=b.get("body"),
        locale=b.get("locale", "en"),
        notify=b.get("notify_subscribers", True),
    )
    return created(update_out(u), f"/api/v1/updates/{u['id']}")


@api.operation(
    "/incidents/<int:incident_id>/updates/preview",
    "POST",
    perm=Perm.DRAFT,
    summary="What drafting this would send, where, to how many; nothing is written.",
    body=UPDATE_IN,
    response=PREVIEW,
    errors=(404, 422),
)
def preview_update(incident_id: int) -> Any:
    """Render a would-be update and count who it reaches, without drafting it."""
    b = g.body
    return jsonify(
        crisis().updates.preview_update(
            actor=acting(),
            incident_id=incident_id,
            audience=b["audience"],
            template=b.get("template"),
            body=b.get("body"),
            locale=b.get("locale", "en"),
            notify=b.get("notify_subscribers", True),
        )
    )


@api.operation(
    "/updates",
    "GET",
    perm=Perm.READ,
    summary="Updates (the approval queue).",
    response=page_of(UPDATE),
    query={"status": {"type": "string"}},
)
def list_updates() -> Any:
    """List updates, newest first; ?status=pending_approval is the approval queue."""
    items = [
        update_out(u)
        for u in crisis().updates.list_updates(status=request.args.get("status") or None)
    ]
    return jsonify({"items": items, "page": 1, "per_page": len(items), "total": len(items)})


@api.operation(
    "/updates/<int:update_id>",
    "GET",
    perm=Perm.READ,
    summary="One update.",
    response=UPDATE,
    errors=(404,),
)
def get_update(update_id: int) -> Any:
    """Show an update: every channel's text, approvals and delivery progress."""
    return jsonify(update_out(crisis().updates.get_update(update_id=update_id)))


@api.operation(
    "/updates/<int:update_id>",
    "PUT",
    perm=Perm.DRAFT,
    summary="Revise a draft (earlier approvals void).",
    body=REVISE_IN,
    response=UPDATE,
    errors=(404, 409, 422),
)
def revise_update(update_id: int) -> Any:
    """Edit a draft: all channels (body) or some (channels), and its other languages'
    texts (variants)."""
    u = crisis().updates.revise_update(
        actor=acting(),
        update_id=update_id,
        body=g.body.get("body"),
        channel_texts=g.body.get("channels"),
        variant_texts=g.body.get("variants"),
    )
    return jsonify(update_out(u))


@api.operation(
    "/updates/<int:update_id>/corrections",
    "POST",
    perm=Perm.DRAFT,
    summary="Correct a published update: edits the post where the platform allows it "
    "(Mastodon, Slack), else a new message; approved like any update.",
    body=CORRECTION_IN,
    response=UPDATE,
    status=201,
    errors=(404, 422),
)
def correct_update(update_id: int) -> Any:
    """Draft a correction of a published update."""
    u = crisis().updates.draft_correction(actor=acting(), update_id=update_id, body=g.body["body"])
    return created(update_out(u), f"/api/v1/updates/{u['id']}")


@api.operation(
    "/updates/<int:update_id>/approve",
    "POST",
    perm=Perm.READ,
    summary="Approve one revision (comms lead or the audience's role).",
    body=APPROVE_IN,
    response=UPDATE,
    errors=(404, 409, 422),
)
def approve_update(update_id: int) -> Any:
    """Approve the named revision; the update is published when approval lands."""
    u = crisis().updates.approve_update(
        actor=acting(),
        update_id=update_id,
        revision=g.body["revision"],
        override_reason=g.body.get("override_reason"),
    )
    return jsonify(update_out(u))


@api.operation(
    "/updates/<int:update_id>/reject",
    "POST",
    perm=Perm.APPROVE,
    summary="Reject a draft with a reason.",
    body=REJECT_IN,
    response=UPDATE,
    errors=(404, 409, 422),
)
def reject_update(update_id: int) -> Any:
    """Reject a draft."""
    return jsonify(
        update_out(
            crisis().updates.reject_update(
                actor=acting(), update_id=update_id, reason=g.body["reason"]
            )
        )
    )
