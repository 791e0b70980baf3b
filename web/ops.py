"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from engine.kernel.roles import Perm
from engine.store import DatabaseError
from web.auth import crisis, requires
from web.metrics import PrometheusMetrics

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Say the process is up."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """Say whether the database answers and its schema is current."""
    store = crisis().store
    checks: dict[str, str] = {}
    try:
        store.ping()
        checks["database"] = "ok"
        current, head = store.current_revision(), store.head_revision()
        checks["migrations"] = "ok" if current == head else f"at {current}, need {head}"
    except DatabaseError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    alarm = current_app.extensions.get("crisis.runtime")
    if alarm is not None:  # web-only processes (gunicorn) run no alarm clock
        checks["alarm_clock"] = "ok" if alarm.alarm.alive() else "no pass completed recently"
    ready = all(v == "ok" for v in checks.values())
    resp = jsonify({"status": "ready" if ready else "not ready", "checks": checks})
    resp.status_code = 200 if ready else 503
    return resp


@bp.get("/metrics")
@requires(Perm.READ)
def metrics() -> Any:
    """Prometheus text format: database gauges and this process's histograms and counters.

    Scrape it with any user's API token (an automation user's, say) as a bearer token.
    """
    exporter: PrometheusMetrics = current_app.extensions["crisis.metrics"]
    return Response(exporter.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])
