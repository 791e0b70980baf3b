"""The paging context's tables: only modules in ``engine.paging`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["ladders", "overrides", "roster_members", "rotations"]

roster_members = sa.Table(
    "roster_members",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(64), nullable=False),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("role", "user_id", name="uq_roster_role_user"),
)


rotations = sa.Table(
    "rotations",
    metadata,
    sa.Column("role", sa.String(64), primary_key=True),
    sa.Column("handoff_weekday", sa.Integer, nullable=False),  # 0 = Monday
    sa.Column("handoff_time", sa.String(5), nullable=False),  # "09:00", local
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("anchor_date", sa.Date, nullable=False),
)


overrides = sa.Table(
    "roster_overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# migration 0009: the ladder's state moved here from the incident row (paging owns it).
# A new generation on every re-plan; stale timers see the change.
ladders = sa.Table(
    "escalation_ladders",
    metadata,
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", UTCDateTime),
    sa.Column("stopped_at", UTCDateTime),
    sa.Column("step", sa.String(16)),
    sa.Column("exhausted", sa.Boolean, nullable=False, server_default=sa.false()),
)
