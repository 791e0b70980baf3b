"""Map the engine's errors and HTTP errors to responses, once for the whole app.

API paths (``/api/``, ``/hooks/``) always answer JSON ``{error, message, details}``; pages
answer a short HTML page. Nothing ever shows a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from engine.kernel.errors import (
    Conflict,
    CrisisError,
    Forbidden,
    InvalidTransition,
    NotFound,
    PlaybookInvalid,
    RateLimited,
    ValidationFailed,
)

log = logging.getLogger("crisis.web")

_STATUS: list[tuple[type[CrisisError], int]] = [
    (InvalidTransition, 409),
    (Conflict, 409),
    (NotFound, 404),
    (Forbidden, 403),
    (ValidationFailed, 422),
    (PlaybookInvalid, 422),
    (RateLimited, 429),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


class SessionEnded(Exception):
    """A page's form arrived without a live session, or with a stale CSRF token (web.kept
    answers it with the text typed and a way to log in again)."""


class ApiError(Exception):
    """An HTTP error raised by a view with a code, a message and details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.details = details or {}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/hooks/", "/metrics")) or (
        request.accept_mimetypes.best == "application/json"
    )


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response | tuple[str, int]:
    if wants_json():
        body: dict[str, Any] = {"error": code, "message": message}
        if details:
            body["details"] = details
        resp = jsonify(body)
        resp.status_code = status
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="crisiscomms"'
        return resp
    if _public_look(status):
        page = current_app.extensions.get("crisis.status_page")
        return render_template(
            "status_error.html", status=status, message=message, page=page
        ), status
    return render_template("error.html", status=status, message=message), status


def _public_look(status: int) -> bool:
    """The public page's look for the public's errors: on its paths, and for an address
    nobody logged in asked for (a stranger's typo should not land on the staff's look)."""
    if "crisis.status_page" not in current_app.extensions:
        return False
    return request.path.startswith("/status") or (status == 404 and g.get("user") is None)


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Any:
        return error_response(exc.status, exc.code, str(exc), exc.details)

    @app.errorhandler(CrisisError)
    def _engine(exc: CrisisError) -> Any:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 400)
        details: dict[str, Any] = {}
        if isinstance(exc, ValidationFailed):
            details = dict(exc.details)
        elif isinstance(exc, PlaybookInvalid):
            details = {"problems": [str(p) for p in exc.problems]}
        elif isinstance(exc, InvalidTransition):
            details = {"trigger": exc.trigger, "state": exc.state, "allowed": list(exc.allowed)}
        elif isinstance(exc, Forbidden) and exc.required:
            details = {"required": exc.required}
        elif isinstance(exc, RateLimited):
            details = {"retry_after": exc.retry_after}
        resp = error_response(status, exc.code, str(exc), details)
        if isinstance(exc, RateLimited):
            headers = resp.headers if isinstance(resp, Response) else None
            if headers is not None:
                headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = {
            404: "nothing here: check the path",
            405: f"{request.method} is not allowed here",
            413: "the request body is too large",
        }.get(status, exc.description or exc.name)
        return error_response(status, _HTTP_CODES.get(status, "error"), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "something went wrong on our side; it is logged")
