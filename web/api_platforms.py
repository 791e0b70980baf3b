"""Freeze connectors in the REST API (``/api/v1``): what a freeze paused on each marketing
platform, and the review of those items after a lift."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from engine.kernel.roles import Perm
from web.api import api, created
from web.auth import acting, crisis
from web.errors import ApiError
from web.present import external_item_out, rfc3339
from web.schemas import BATCH, BATCH_IN, EXTERNAL_ITEM, ITEM_REVIEW_IN

ITEMS: dict[str, Any] = {"type": "array", "items": EXTERNAL_ITEM}


@api.operation(
    "/freezes/<int:freeze_id>/items",
    "GET",
    perm=Perm.READ,
    summary="What a freeze found and paused on the marketing platforms.",
    response=ITEMS,
    errors=(404,),
)
def freeze_items(freeze_id: int) -> Any:
    """Every item a freeze's connectors found, soonest first, and where each stands."""
    crisis().calendar.get_freeze(freeze_id=freeze_id)  # 404 for an unknown freeze
    return jsonify([external_item_out(i) for i in crisis().platforms.items(freeze_id=freeze_id)])


@api.operation(
    "/platform-items",
    "GET",
    perm=Perm.READ,
    summary="Items on marketing platforms waiting for a person to decide (after a lift).",
    response=ITEMS,
    errors=(422,),
    query={"state": {"type": "string", "enum": ["review"]}},
)
def platform_items() -> Any:
    """Items in review: held back after a lift, or changed on the platform during a freeze."""
    if request.args.get("state", "review") != "review":
        raise ApiError(422, "only state=review is listed", details={"state": "review"})
    return jsonify([external_item_out(i) for i in crisis().platforms.in_review()])


@api.operation(
    "/platform-items/<int:item_id>/review",
    "POST",
    perm=Perm.REVIEW_POSTS,
    summary="Publish, reschedule or cancel an item on its marketing platform.",
    body=ITEM_REVIEW_IN,
    response=EXTERNAL_ITEM,
    errors=(404, 409, 422),
)
def review_platform_item(item_id: int) -> Any:
    """Decide on an item in review; its connector carries the decision out on the platform."""
    when = _instant(g.body["send_at"]) if g.body.get("send_at") else None
    item = crisis().platforms.review_item(
        actor=acting(), item_id=item_id, action=g.body["action"], send_at=when
    )
    return jsonify(external_item_out(item))


@api.operation(
    "/connectors/<name>/batches",
    "POST",
    perm=Perm.MANAGE_POSTS,
    summary="Register a scheduled send a platform cannot list (a SendGrid batch_id send).",
    body=BATCH_IN,
    response=BATCH,
    status=201,
    errors=(404, 422),
)
def register_batch(name: str) -> Any:
    """Marketing's sender tells us of a mail send scheduled with a batch_id, so a freeze can
    pause it (SendGrid pauses only batches, no later than ten minutes before the send)."""
    out = crisis().platforms.register_batch(
        actor=acting(),
        connector=name,
        batch_id=g.body["batch_id"],
        send_at=_instant(g.body["send_at"]),
        title=g.body.get("title", ""),
        tags=g.body.get("tags") or [],
        regions=g.body.get("regions") or [],
    )
    return created(out | {"send_at": rfc3339(out["send_at"])}, f"/api/v1/connectors/{name}/batches")


def _instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422, "send_at is not a time", details={"send_at": "e.g. 2026-12-20T09:00:00Z"}
        ) from None
    if when.tzinfo is None:
        raise ApiError(422, "send_at needs a time zone", details={"send_at": "add Z"})
    return when.astimezone(UTC)
