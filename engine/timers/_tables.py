"""The timers context's tables: only modules in ``engine.timers`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["timers"]

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("outcome", sa.String(32)),
    sa.Column("fired_at", UTCDateTime),
    sa.Column("fired_by", sa.String(100)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_timers_state_due", "state", "due_at"),
    sa.Index("ix_timers_incident_state", "incident_id", "state"),  # 0014: an incident's timers
)
