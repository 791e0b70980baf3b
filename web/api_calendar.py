"""The content calendar and freezes in the REST API (``/api/v1``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from engine.calendar.rules import Scope
from engine.kernel.roles import Perm
from web.api import api, created
from web.apispec import query_int
from web.auth import acting, crisis, current_user
from web.errors import ApiError
from web.present import freeze_out, post_out
from web.schemas import (
    FREEZE,
    FREEZE_IN,
    FREEZE_STATUS,
    IMPORTED,
    LIFT_IN,
    POST,
    POST_IN,
    REVIEW_IN,
    page_of,
)

MAX_IMPORT_BYTES = 1024 * 1024


@api.operation(
    "/posts",
    "POST",
    perm=Perm.MANAGE_POSTS,
    summary="Schedule a post.",
    body=POST_IN,
    response=POST,
    status=201,
    errors=(422,),
)
def create_post() -> Any:
    """Schedule a post on a social or newsletter channel."""
    p = crisis().calendar.create_post(actor=acting(), fields=g.body)
    return created(post_out(p), f"/api/v1/posts/{p['id']}")


@api.operation(
    "/posts",
    "GET",
    perm=Perm.READ,
    summary="List posts by publish time.",
    response=page_of(POST),
    errors=(422,),
    query={
        "state": {"type": "string"},
        "review": {"type": "boolean"},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
    },
)
def list_posts() -> Any:
    """List the calendar's posts, soonest first."""
    review = request.args.get("review")
    page = query_int("page", 1, lo=1, hi=100_000)
    per_page = query_int("per_page", 50, lo=1, hi=500)
    items, total = crisis().calendar.list_posts(
        state=request.args.get("state") or None,
        review=None if review is None else review.lower() in ("1", "true", "yes"),
        page=page,
        per_page=per_page,
    )
    return jsonify(
        {"items": [post_out(p) for p in items], "page": page, "per_page": per_page, "total": total}
    )


@api.operation(
    "/posts/import",
    "POST",
    perm=Perm.MANAGE_POSTS,
    summary="Import a calendar (CSV or JSON): all rows or none.",
    raw_body={
        "text/csv": {"type": "string"},
        "application/json": {"type": "array", "items": POST_IN},
    },
    response=IMPORTED,
    status=201,
    errors=(413, 422),
)
def import_posts() -> Any:
    """Import posts from CSV (channel,body,publish_at,tags,regions) or a JSON list."""
    ctype = request.mimetype or ""
    if ctype not in ("text/csv", "application/json", "text/plain"):
        raise ApiError(400, "send text/csv or application/json")
    data = request.get_data(cache=False)
    if len(data) > MAX_IMPORT_BYTES:
        raise ApiError(413, "the calendar file is too large")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the file is not UTF-8 text") from None
    n = crisis().calendar.import_posts(actor=acting(), data=text, content_type=ctype)
    return created({"imported": n}, "/api/v1/posts")


@api.operation(
    "/posts/<int:post_id>/review",
    "POST",
    perm=Perm.REVIEW_POSTS,
    summary="Publish now, reschedule or cancel a held post.",
    body=REVIEW_IN,
    response=POST,
    errors=(404, 409, 422),
)
def review_post(post_id: int) -> Any:
    """Decide what happens to a held post."""
    when = None
    if g.body.get("publish_at"):
        try:
            when = datetime.fromisoformat(g.body["publish_at"].replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                422, "publish_at is not a time", details={"publish_at": "e.g. 2026-12-20T09:00:00Z"}
            ) from None
        if when.tzinfo is None:
            raise ApiError(422, "publish_at needs a time zone", details={"publish_at": "add Z"})
        when = when.astimezone(UTC)
    p = crisis().calendar.review_post(
        actor=acting(), post_id=post_id, action=g.body["action"], publish_at=when
    )
    return jsonify(post_out(p))


@api.operation(
    "/freeze",
    "GET",
    perm=Perm.READ,
    summary="Would a post on this channel, tag and region be held now?",
    response=FREEZE_STATUS,
    public_flag="PUBLIC_FREEZE_STATUS",
    query={"channel": {"type": "string"}, "tag": {"type": "string"}, "region": {"type": "string"}},
)
def freeze_status() -> Any:
    """Answer external schedulers: is this kind of post frozen right now?"""
    a = request.args
    status = crisis().calendar.freeze_status(
        channel=a.get("channel") or None,
        tag=a.get("tag") or None,
        region=a.get("region") or None,
    )
    shown = [freeze_out(f) for f in status["freezes"]]
    if current_user() is None:  # anonymous (CRISIS_PUBLIC_FREEZE_STATUS=1): only the scope
        shown = [{k: f[k] for k in ("id", "scope", "created_at")} for f in shown]
    resp = jsonify({"frozen": status["frozen"], "freezes": shown})
    resp.headers["Cache-Control"] = "max-age=15, must-revalidate"
    if current_user() is None:
        resp.headers["Vary"] = "Authorization, Cookie"
    return resp


@api.operation(
    "/freezes",
    "GET",
    perm=Perm.READ,
    summary="List freezes.",
    response=page_of(FREEZE),
    query={"active": {"type": "boolean"}},
)
def list_freezes() -> Any:
    """List freezes, newest first."""
    raw = request.args.get("active")
    active = None if raw is None else raw.lower() in ("1", "true", "yes")
    items = [freeze_out(f) for f in crisis().calendar.list_freezes(active=active)]
    return jsonify({"items": items, "page": 1, "per_page": len(items), "total": len(items)})


@api.operation(
    "/freezes",
    "POST",
    perm=Perm.CREATE_FREEZE,
    summary="Freeze by hand.",
    body=FREEZE_IN,
    response=FREEZE,
    status=201,
    errors=(404, 422),
)
def create_freeze() -> Any:
    """Create a freeze (a reason is required)."""
    b = g.body
    scope = b["scope"]
    f = crisis().calendar.create_freeze(
        actor=acting(),
        reason=b["reason"],
        incident_id=b.get("incident_id"),
        on_lift=b.get("on_lift", "review"),
        scope=Scope(
            tuple(scope.get("channels", ())),
            tuple(scope.get("tags", ())),
            tuple(scope.get("regions", ())),
        ),
    )
    return created(freeze_out(f), f"/api/v1/freezes/{f['id']}")


@api.operation(
    "/freezes/<int:freeze_id>/lift",
    "POST",
    perm=Perm.LIFT_FREEZE,
    summary="Lift a freeze (people only, with a reason).",
    body=LIFT_IN,
    response=FREEZE,
    errors=(404, 409, 422),
)
def lift_freeze(freeze_id: int) -> Any:
    """Lift a freeze; its playbook's on_lift policy decides what happens to held posts."""
    f = crisis().calendar.lift_freeze(
        actor=acting(),
        freeze_id=freeze_id,
        reason=g.body["reason"],
        force=bool(g.body.get("force")),
    )
    return jsonify(freeze_out(f) | {"posts": f["posts"]})
