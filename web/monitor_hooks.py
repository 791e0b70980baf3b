"""Inbound monitoring hooks: Alertmanager's webhook (v4) and a generic JSON trigger.

Auth: a bearer token, or basic auth with the token as the password (Alertmanager's
``http_config`` offers both), of a user whose role may post monitoring hooks (automation).

``POST /hooks/alertmanager`` takes Alertmanager's webhook payload. ``POST /hooks/webhook/<source>``
(source ``webhook`` or ``grafana``, as the playbooks' triggers name them) takes either the same
shape (Grafana sends it) or one alert::

    {"status": "firing" | "resolved",      # required
     "labels": {"check": "checkout-synthetic", ...},   # required: matched against triggers
     "id": "checkout-2026-11-23",          # required: one occurrence; repeats are duplicates
     "group": "checkout",                  # optional: alerts of a group share an incident
     "started_at": "2026-11-23T09:00:00Z", # optional: part of the occurrence's identity
     "title": "Checkout failing", "description": "..."}   # optional: the incident's words

Answers 200 with one outcome per alert (declared, joined, duplicate, resolved, unmatched,
ignored); 400 for a malformed body; 401/403 for missing or wrong credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import jsonify, request
from jsonschema import Draft202012Validator

from engine.kernel.roles import Perm
from engine.monitoring.alerts import AlertIn
from web.apispec import read_json
from web.auth import crisis, current_actor, requires, requires_token
from web.errors import ApiError
from web.hooks import bp

log = logging.getLogger("crisis.monitoring")

GENERIC_SOURCES = ("webhook", "grafana")
_LABELS = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1000}}
ALERTMANAGER = Draft202012Validator(
    {
        "type": "object",
        "required": ["alerts"],
        "properties": {
            "version": {"type": "string"},
            "groupKey": {"type": "string", "maxLength": 2000},
            "status": {"enum": ["firing", "resolved"]},
            "alerts": {
                "type": "array",
                "maxItems": 1000,
                "items": {
                    "type": "object",
                    "required": ["status", "labels"],
                    "properties": {
                        "status": {"enum": ["firing", "resolved"]},
                        "labels": _LABELS,
                        "annotations": _LABELS,
                        "startsAt": {"type": "string", "maxLength": 40},
                        "fingerprint": {"type": "string", "maxLength": 200},
                    },
                },
            },
        },
    }
)
GENERIC = Draft202012Validator(
    {
        "type": "object",
        "required": ["status", "labels", "id"],
        "properties": {
            "status": {"enum": ["firing", "resolved"]},
            "labels": _LABELS,
            "id": {"type": "string", "minLength": 1, "maxLength": 200},
            "group": {"type": "string", "maxLength": 500},
            "started_at": {"type": "string", "maxLength": 40},
            "title": {"type": "string", "maxLength": 1000},
            "description": {"type": "string", "maxLength": 10000},
        },
    }
)


def _body(validator: Draft202012Validator) -> dict[str, Any]:
    data: dict[str, Any] = read_json(
        validator, invalid=400, message="this is not a payload the hook understands"
    )
    return data


def _fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _alertmanager_alerts(data: dict[str, Any]) -> tuple[str, list[AlertIn]]:
    alerts = [
        AlertIn(
            status=a["status"],
            labels=a["labels"],
            fingerprint=a.get("fingerprint") or _fingerprint(a["labels"]),
            starts_at=a.get("startsAt", ""),
            annotations=a.get("annotations") or {},
        )
        for a in data["alerts"]
    ]
    group = data.get("groupKey") or _fingerprint(data.get("groupLabels") or {})
    return group, alerts


def _answer(source: str, group: str, alerts: list[AlertIn]) -> Any:
    actor = current_actor()
    assert actor is not None
    outcomes = crisis().monitoring.ingest(
        actor=actor, source=source, group_key=group, alerts=alerts
    )
    for o, a in zip(outcomes, alerts, strict=True):
        if o.action == "unmatched":
            log.info("unmatched %s alert %s: %s", source, dict(a.labels), o.reason)
        else:
            log.info("%s alert %s: %s INC-%s", source, o.fingerprint, o.action, o.incident_id)
    return jsonify({"outcomes": [o.as_json() for o in outcomes]})


@bp.post("/alertmanager")
@requires_token
@requires(Perm.MONITORING_HOOK)
def alertmanager() -> Any:
    """Apply an Alertmanager webhook notification (payload version 4)."""
    group, alerts = _alertmanager_alerts(_body(ALERTMANAGER))
    return _answer("alertmanager", group, alerts)


@bp.post("/webhook/<source>")
@requires_token
@requires(Perm.MONITORING_HOOK)
def generic(source: str) -> Any:
    """Apply a generic monitoring trigger (one alert, or Alertmanager's shape)."""
    if source not in GENERIC_SOURCES:
        raise ApiError(404, f"no such trigger source (use: {', '.join(GENERIC_SOURCES)})")
    data = request.get_json(silent=True) if request.is_json else None
    if isinstance(data, dict) and "alerts" in data:
        group, alerts = _alertmanager_alerts(_body(ALERTMANAGER))
        return _answer(source, group, alerts)
    one = _body(GENERIC)
    annotations = {
        k: v
        for k, v in (("summary", one.get("title")), ("description", one.get("description")))
        if v
    }
    alert = AlertIn(
        status=one["status"],
        labels=one["labels"],
        fingerprint=one["id"],
        starts_at=one.get("started_at", ""),
        annotations=annotations,
    )
    return _answer(source, one.get("group") or one["id"], [alert])
