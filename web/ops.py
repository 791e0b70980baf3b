"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from web.auth import service

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Say the process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """Say whether the database answers and its schema is current."""
    store = service().store
    checks: dict[str, str] = {}
    try:
        with store.engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        checks["database"] = "ok"
        current, head = store.current_revision(), store.head_revision()
        checks["migrations"] = "ok" if current == head else f"at {current}, need {head}"
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    resp = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    resp.status_code = 200 if ready else 503
    return resp
