"""The whole database schema: every context's tables on one MetaData.

Migrations must match it (a test compares them). Contexts never import this module; each
uses its own ``_tables`` and asks other contexts through their functions."""

from __future__ import annotations

from engine.accounts._tables import api_tokens, users
from engine.audience._tables import subscribers
from engine.calendar._tables import (
    connector_runs,
    external_items,
    freeze_gate,
    freezes,
    platform_batches,
    posts,
)
from engine.delivery._tables import deliveries, early_receipts, inbound_seen, sandbox_messages
from engine.kernel._tables import events, incidents, throttle_hits
from engine.monitoring._tables import monitor_alerts, monitor_groups
from engine.paging._tables import ladders, overrides, roster_members, rotations
from engine.playbooks._tables import playbook_versions
from engine.public._tables import status_entries
from engine.store.columns import UTCDateTime, metadata
from engine.timers._tables import timers
from engine.updates._tables import chat_cards, social_threads, update_approvals, updates

__all__ = [
    "UTCDateTime",
    "api_tokens",
    "chat_cards",
    "connector_runs",
    "deliveries",
    "early_receipts",
    "events",
    "external_items",
    "freeze_gate",
    "freezes",
    "inbound_seen",
    "incidents",
    "ladders",
    "metadata",
    "monitor_alerts",
    "monitor_groups",
    "overrides",
    "platform_batches",
    "playbook_versions",
    "posts",
    "roster_members",
    "rotations",
    "sandbox_messages",
    "social_threads",
    "status_entries",
    "subscribers",
    "throttle_hits",
    "timers",
    "update_approvals",
    "updates",
    "users",
]
