"""JSON Schemas of the API's bodies: used to validate requests and to build OpenAPI."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

NAME_LIST: Schema = {
    "type": "array",
    "maxItems": 50,
    "items": {"type": "string", "minLength": 1, "maxLength": 100},
}
TIME: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}

ERROR: Schema = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "details": {"type": "object"},
    },
}

DECLARE_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["playbook", "severity", "title"],
    "properties": {
        "playbook": {"type": "string", "minLength": 1, "maxLength": 64},
        "severity": {"type": "string", "minLength": 1, "maxLength": 32},
        "title": {"type": "string", "minLength": 1, "maxLength": 300},
        "regions": NAME_LIST,
        "services": NAME_LIST,
        "summary": {"type": "string", "maxLength": 5000},
    },
}

AMEND_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "severity": {"type": "string", "minLength": 1, "maxLength": 32},
        "title": {"type": "string", "minLength": 1, "maxLength": 300},
        "regions": NAME_LIST,
        "summary": {"type": "string", "maxLength": 5000},
    },
}

TRANSITION_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["trigger"],
    "properties": {
        "trigger": {"type": "string", "minLength": 1, "maxLength": 64},
        "note": {"type": "string", "maxLength": 2000},
    },
}

INCIDENT: Schema = {
    "type": "object",
    "required": [
        "id",
        "ref",
        "playbook",
        "playbook_version",
        "title",
        "severity",
        "state",
        "allowed_triggers",
        "regions",
        "services",
        "summary",
        "declared_by",
        "declared_at",
        "owner",
        "acknowledged_at",
        "resolved_at",
        "next_update_due_at",
        "escalation",
        "freezes",
    ],
    "properties": {
        "id": {"type": "integer"},
        "ref": {"type": "string"},
        "playbook": {"type": "string"},
        "playbook_version": {"type": "string"},
        "title": {"type": "string"},
        "severity": {"type": "string"},
        "state": {"type": "string"},
        "allowed_triggers": {"type": "array", "items": {"type": "string"}},
        "regions": {"type": "array", "items": {"type": "string"}},
        "services": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string"},
        "declared_by": {"type": "string"},
        "declared_at": TIME,
        "owner": {"type": ["string", "null"]},
        "acknowledged_at": NULLABLE_TIME,
        "resolved_at": NULLABLE_TIME,
        "next_update_due_at": NULLABLE_TIME,
        "escalation": {
            "type": ["object", "null"],
            "properties": {
                "step": {"type": ["string", "null"]},
                "next_at": NULLABLE_TIME,
                "exhausted": {"type": "boolean"},
                "stopped": {"type": "boolean"},
            },
        },
        "freezes": {"type": "array", "items": {"type": "integer"}},
    },
}

EVENT: Schema = {
    "type": "object",
    "required": ["seq", "type", "actor", "at", "data", "hash"],
    "properties": {
        "seq": {"type": "integer"},
        "type": {"type": "string"},
        "actor": {"type": "string"},
        "at": TIME,
        "data": {"type": "object"},
        "hash": {"type": "string"},
    },
}


def page_of(item: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total"],
        "properties": {
            "items": {"type": "array", "items": item},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "total": {"type": "integer"},
        },
    }
