"""Subscriber lists in the REST API (``/api/v1``): an organisation's list, all or nothing."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from engine.kernel.roles import Perm
from web.api import api
from web.auth import acting, crisis
from web.errors import ApiError

MAX_LIST_BYTES = 64 * 1024 * 1024  # a list of a million people is about 60 MB of CSV
FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}
IMPORTED_PEOPLE = {
    "type": "object",
    "required": ["rows", "added", "already"],
    "properties": {
        "rows": {"type": "integer"},
        "added": {"type": "integer"},
        "already": {"type": "integer", "description": "already subscribed: kept as they are"},
    },
}


@api.operation(
    "/subscribers/import",
    "POST",
    perm=Perm.ADMIN,
    summary="Import subscribers (CSV with a header audience,name,phone,email,region,language, "
    "or JSON lines): all rows or none, each bad row named by its line.",
    raw_body={
        "text/csv": {"type": "string"},
        "application/x-ndjson": {"type": "string"},
    },
    response=IMPORTED_PEOPLE,
    status=201,
    errors=(400, 413, 422),
)
def import_subscribers() -> Any:
    """Add an organisation's subscriber list in one go."""
    fmt = FORMATS.get(request.mimetype or "")
    if fmt is None:
        raise ApiError(400, "send text/csv or application/x-ndjson")
    request.max_content_length = MAX_LIST_BYTES  # above the app's 1 MB, for this route only
    data = request.get_data(cache=False)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the list is not UTF-8 text") from None
    result = crisis().audience.import_subscribers(actor=acting(), text=text, fmt=fmt)
    resp = jsonify(result)
    resp.status_code = 201
    return resp
