"""Declare API operations once: the route, its role, its schemas, its OpenAPI entry.

Each view is registered through :meth:`Api.operation`, which wires the role check and the
request-body validation and records the operation; ``openapi()`` then builds the document
from those records, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, request
from jsonschema import Draft202012Validator
from werkzeug.routing import IntegerConverter

from engine.kernel.roles import PERMISSIONS, Perm
from engine.kernel.text import PROBLEM, unstorable
from web.auth import current_user, requires
from web.errors import ApiError
from web.schemas import ERROR, Schema

_RULE_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; larger ones can name nothing


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a non-negative id that fits the database (else 404)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, min=0, max=MAX_ID)


@dataclass
class Operation:
    rule: str
    method: str
    perm: Perm
    summary: str
    body: Schema | None
    response: Schema | None
    status: int
    query: dict[str, Schema] = field(default_factory=dict)
    produces: str = "application/json"
    errors: tuple[int, ...] = ()
    raw_body: dict[str, Schema] | None = None  # content type → schema, read by the view
    public_flag: str | None = None


class Api:
    """A blueprint whose operations are described as they are declared."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.bp = blueprint
        self.operations: list[Operation] = []

    def operation(
        self,
        rule: str,
        method: str,
        *,
        perm: Perm,
        summary: str,
        body: Schema | None = None,
        response: Schema | None = None,
        status: int = 200,
        query: dict[str, Schema] | None = None,
        produces: str = "application/json",
        errors: tuple[int, ...] = (),
        raw_body: dict[str, Schema] | None = None,
        public_flag: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a view: the role is checked first (401/403), then the body (400/422).

        ``public_flag`` names an app config key that, when true, lets anonymous callers in.
        """
        validator = Draft202012Validator(body) if body is not None else None

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(fn)
            def validated(**kwargs: Any) -> Any:
                if validator is not None:
                    g.body = read_json(validator)
                return fn(**kwargs)

            guarded = requires(perm)(validated)

            @wraps(fn)
            def view(**kwargs: Any) -> Any:
                if public_flag and current_app.config.get(public_flag) and not current_user():
                    return validated(**kwargs)
                return guarded(**kwargs)

            self.bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
            self.operations.append(
                Operation(
                    rule,
                    method,
                    perm,
                    summary,
                    body,
                    response,
                    status,
                    dict(query or {}),
                    produces,
                    errors,
                    raw_body,
                    public_flag,
                )
            )
            return view

        return decorate

    def openapi(self, *, title: str, version: str) -> dict[str, Any]:
        prefix = self.bp.url_prefix or ""
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            path = prefix + _RULE_ARG.sub(r"{\2}", op.rule)
            roles = sorted(r for r, perms in PERMISSIONS.items() if op.perm in perms)
            entry: dict[str, Any] = {
                "summary": op.summary,
                "description": f"Roles: {', '.join(roles)}.",
                "operationId": f"{op.method.lower()}_{path.strip('/').replace('/', '_')}".replace(
                    "{", ""
                ).replace("}", ""),
                "security": [{"bearer": []}, {"session": []}],
                "responses": {},
            }
            params = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}
                    if conv == "int"
                    else {"type": "string"},
                }
                for conv, name in _RULE_ARG.findall(op.rule)
            ]
            params += [
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in op.query.items()
            ]
            if params:
                entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": op.body}},
                }
            elif op.raw_body is not None:
                entry["requestBody"] = {
                    "required": True,
                    "content": {ct: {"schema": s} for ct, s in op.raw_body.items()},
                }
            if op.public_flag:
                entry["description"] += f" Anonymous callers too when {op.public_flag} is set."
            ok: dict[str, Any] = {"description": "OK"}
            if op.response is not None:
                ok["content"] = {op.produces: {"schema": op.response}}
            entry["responses"][str(op.status)] = ok
            codes = {401, 403, *op.errors}
            if op.body is not None or op.raw_body is not None:
                codes |= {400, 413, 422}  # 422: a field breaks the schema or cannot be stored
            if op.query:
                codes.add(422)  # a query value out of range
            if _RULE_ARG.search(op.rule):
                codes.add(404)
            for status in sorted(codes):
                entry["responses"][str(status)] = {
                    "description": "error",
                    "content": {"application/json": {"schema": ERROR}},
                }
            paths.setdefault(path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "session": {"type": "apiKey", "in": "cookie", "name": "crisis_session"},
                }
            },
        }


def read_json(
    validator: Draft202012Validator,
    *,
    invalid: int = 422,
    message: str = "some fields are not valid",
) -> Any:
    """The request's JSON body, checked: 400 unless it is JSON; ``invalid`` naming each field
    that breaks the schema or holds text no database stores (every problem of a field)."""
    if not request.is_json:
        raise ApiError(400, "send a JSON body with Content-Type: application/json")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "the JSON nests too deeply") from None
    if data is None:
        raise ApiError(400, "the body is not valid JSON")
    if _depth_over(data, MAX_JSON_DEPTH):
        raise ApiError(400, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    problems: dict[str, str] = {where: PROBLEM for where in unstorable(data)}
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(body)"
        problems[where] = f"{problems[where]}; {err.message}" if where in problems else err.message
    if problems:
        raise ApiError(invalid, message, details=problems)
    return data


MAX_JSON_DEPTH = 32


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit`` (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
    return False


def query_int(name: str, default: int, *, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, f"{name} must be a whole number", details={name: "not a number"}
        ) from None
    if not lo <= value <= hi:
        raise ApiError(
            422, f"{name} must be between {lo} and {hi}", details={name: f"between {lo} and {hi}"}
        )
    return value
