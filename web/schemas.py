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
        "summary": {"type": "string", "description": "the event in one sentence, for people"},
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


NAMES_OR_TEXT: Schema = {"oneOf": [NAME_LIST, {"type": "string", "maxLength": 500}]}

POST_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["channel", "body", "publish_at"],
    "properties": {
        "channel": {"type": "string", "minLength": 1, "maxLength": 64},
        "body": {"type": "string", "minLength": 1, "maxLength": 5000},
        "publish_at": {"type": "string", "minLength": 1, "maxLength": 64},
        "tags": NAMES_OR_TEXT,
        "regions": NAMES_OR_TEXT,
    },
}

POST: Schema = {
    "type": "object",
    "required": [
        "id",
        "channel",
        "body",
        "publish_at",
        "tags",
        "regions",
        "state",
        "held_by",
        "published_at",
    ],
    "properties": {
        "id": {"type": "integer"},
        "channel": {"type": "string"},
        "body": {"type": "string"},
        "publish_at": TIME,
        "tags": {"type": "array", "items": {"type": "string"}},
        "regions": {"type": "array", "items": {"type": "string"}},
        "state": {
            "type": "string",
            "enum": ["scheduled", "held", "published", "cancelled", "failed"],
        },
        "held_by": {"type": "array", "items": {"type": "integer"}},
        "would_be_held_by": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "On a post just scheduled: the active freezes that will hold it "
            "when it comes due, unless they are lifted first.",
        },
        "review": {"type": "boolean"},
        "author": {"type": "string"},
        "published_at": NULLABLE_TIME,
    },
}

REVIEW_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action"],
    "properties": {
        "action": {"type": "string", "enum": ["publish", "reschedule", "cancel"]},
        "publish_at": {"type": "string", "maxLength": 64},
    },
}

ITEM_REVIEW_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action"],
    "properties": {
        "action": {"type": "string", "enum": ["publish", "reschedule", "cancel"]},
        "send_at": {"type": "string", "maxLength": 64},
    },
}

BATCH_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["batch_id", "send_at"],
    "properties": {
        "batch_id": {"type": "string", "minLength": 1, "maxLength": 200},
        "send_at": {"type": "string", "maxLength": 64},
        "title": {"type": "string", "maxLength": 500},
        "tags": NAME_LIST,
        "regions": NAME_LIST,
    },
}

BATCH: Schema = {
    "type": "object",
    "required": ["connector", "batch_id", "send_at", "title", "tags", "regions"],
    "properties": {
        "connector": {"type": "string"},
        "batch_id": {"type": "string"},
        "send_at": TIME,
        "title": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "regions": {"type": "array", "items": {"type": "string"}},
    },
}

SCOPE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"channels": NAME_LIST, "tags": NAME_LIST, "regions": NAME_LIST},
}

FREEZE_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["scope", "reason"],
    "properties": {
        "scope": SCOPE,
        "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
        "incident_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "on_lift": {"type": "string", "enum": ["review", "resume", "discard"]},
    },
}

LIFT_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason"],
    "properties": {
        "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
        "force": {"type": "boolean"},
    },
}

CONNECTOR_RUN: Schema = {  # one marketing platform's part in a freeze
    "type": "object",
    "required": ["connector", "items", "scans", "confirmed_at", "failing", "text"],
    "properties": {
        "connector": {"type": "string"},
        "kind": {"type": ["string", "null"]},
        "items": {"type": "object", "additionalProperties": {"type": "integer"}},
        "scans": {"type": "integer"},
        "last_scan_at": NULLABLE_TIME,
        "confirmed_at": NULLABLE_TIME,
        "failing": {"type": ["string", "null"]},
        "alerted_at": NULLABLE_TIME,
        "text": {"type": "string"},
    },
}

FREEZE: Schema = {
    "type": "object",
    "required": [
        "id",
        "incident_id",
        "scope",
        "reason",
        "created_by",
        "created_at",
        "lifted_by",
        "lifted_at",
        "on_lift",
    ],
    "properties": {
        "id": {"type": "integer"},
        "incident_id": {"type": ["integer", "null"]},
        "scope": {"type": "object"},
        "reason": {"type": "string"},
        "created_by": {"type": "string"},
        "created_at": TIME,
        "lifted_by": {"type": ["string", "null"]},
        "lifted_at": NULLABLE_TIME,
        "lift_reason": {"type": ["string", "null"]},
        "on_lift": {"type": "string"},
        "cooldown_seconds": {"type": "integer"},
        "connectors": {"type": "array", "items": CONNECTOR_RUN},
    },
}

EXTERNAL_ITEM: Schema = {  # something a freeze paused on a marketing platform
    "type": "object",
    "required": ["id", "freeze_id", "connector", "ref", "kind", "title", "state"],
    "properties": {
        "id": {"type": "integer"},
        "freeze_id": {"type": "integer"},
        "connector": {"type": "string"},
        "ref": {"type": "string"},
        "kind": {"type": "string"},
        "title": {"type": "string"},
        "send_at": NULLABLE_TIME,
        "tags": {"type": "array", "items": {"type": "string"}},
        "regions": {"type": "array", "items": {"type": "string"}},
        "state": {"type": "string"},
        "note": {"type": ["string", "null"]},
        "paused_at": NULLABLE_TIME,
    },
}

PUBLIC_FREEZE: Schema = {  # what an anonymous caller learns: no reason, no people, no incident
    "type": "object",
    "required": ["id", "scope"],
    "additionalProperties": False,
    "properties": {"id": {"type": "integer"}, "scope": {"type": "object"}, "created_at": TIME},
}

FREEZE_STATUS: Schema = {
    "type": "object",
    "required": ["frozen", "freezes"],
    "properties": {
        "frozen": {"type": "boolean"},
        "freezes": {"type": "array", "items": {"anyOf": [FREEZE, PUBLIC_FREEZE]}},
    },
}

IMPORTED: Schema = {
    "type": "object",
    "required": ["imported"],
    "properties": {"imported": {"type": "integer"}},
}

UPDATE_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["audience"],
    "properties": {
        "audience": {"type": "string", "minLength": 1, "maxLength": 64},
        "template": {"type": "string", "minLength": 1, "maxLength": 64},
        "body": {"type": "string", "minLength": 1, "maxLength": 5000},
        "locale": {"type": "string", "minLength": 2, "maxLength": 16},
        "notify_subscribers": {
            "type": "boolean",
            "description": "false: post it (status page, social, chat) without messaging the "
            "audience's subscribers (Statuspage's deliver_notifications); default true",
        },
    },
}

REVISE_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "body": {"type": "string", "minLength": 1, "maxLength": 5000},
        "channels": {
            "type": "object",
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 5000},
        },
        "variants": {
            "type": "object",
            "description": "the update's other languages: {locale: {channel: text}}",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 5000},
            },
        },
    },
}

APPROVE_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["revision"],
    "properties": {
        "revision": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "override_reason": {"type": "string", "minLength": 1, "maxLength": 2000},
    },
}

REJECT_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
}

CORRECTION_IN: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["body"],
    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 5000}},
}

LANGUAGES: Schema = {  # an update's languages (issue 16: one message per person), and whether
    # it messages subscribers at all (issue 17)
    "notify_subscribers": {"type": "boolean", "description": "false: posted, not sent"},
    "locales": {
        "type": "array",
        "items": {"type": "string"},
        "description": "the languages it is written in, its own first; each subscriber "
        "gets exactly one (their language, else the first)",
    },
    "variants": {
        "type": "object",
        "description": "the texts of its other languages (personal channels): "
        "{locale: {channel: text}}",
        "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

UPDATE: Schema = {
    "type": "object",
    "required": [
        "id",
        "incident_id",
        "audience",
        "status",
        "revision",
        "author",
        "channels",
        "rendered",
        "segments",
        "policy_violations",
        "approvals",
        "deliveries",
    ],
    "properties": {
        "id": {"type": "integer"},
        "incident_id": {"type": "integer"},
        "audience": {"type": "string"},
        "template": {"type": ["string", "null"]},
        "status": {
            "type": "string",
            "enum": [
                "pending_approval",
                "approved",
                "sending",
                "sent",
                "partially_failed",
                "rejected",
                "expired",
                "withdrawn",
            ],
        },
        "revision": {"type": "integer"},
        "author": {"type": "string"},
        "channels": {"type": "array", "items": {"type": "string"}},
        "rendered": {"type": "object", "additionalProperties": {"type": "string"}},
        "segments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "policy_violations": {"type": "array", "items": {"type": "object"}},
        "approvals": {"type": "array", "items": {"type": "object"}},
        "deliveries": {"type": "object"},
        "corrects": {"type": ["integer", "null"], "description": "the update this corrects"},
        **LANGUAGES,
    },
}

REACH: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["channel", "medium", "people"],
        "properties": {
            "channel": {"type": "string"},
            "medium": {"type": "string"},
            "people": {
                "type": ["integer", "null"],
                "description": "subscribers reached on this channel; null: one post for all",
            },
            "languages": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "of them, how many get each language (several only)",
            },
        },
    },
}

PREVIEW: Schema = {
    "type": "object",
    "required": ["audience", "rendered", "policy_violations", "reach", "goes_out"],
    "properties": {
        "audience": {"type": "string"},
        "template": {"type": ["string", "null"]},
        "rendered": {"type": "object", "additionalProperties": {"type": "string"}},
        "segments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "policy_violations": {"type": "array", "items": {"type": "object"}},
        **LANGUAGES,
        "reach": REACH,
        "goes_out": {
            "type": "string",
            "enum": ["at_once", "approval"],
            "description": "at_once: drafting it publishes it (pre-approved, or no approval)",
        },
        "why": {"type": "string"},
        "approval": {"type": ["string", "null"], "description": "the role that approves"},
        "two_person": {"type": "boolean"},
    },
}
