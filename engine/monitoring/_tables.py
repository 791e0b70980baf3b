"""The monitoring context's tables: only modules in ``engine.monitoring`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["monitor_groups", "monitor_alerts"]

monitor_groups = sa.Table(
    "monitor_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("group_key", sa.String(500), nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source", "group_key", name="uq_monitor_groups_key"),
)


monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("fingerprint", sa.String(200), nullable=False),
    sa.Column("starts_at", sa.String(40), nullable=False),
    sa.Column("group_key", sa.String(500), nullable=False),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.UniqueConstraint("source", "fingerprint", "starts_at", name="uq_monitor_alerts_key"),
    sa.Index("ix_monitor_alerts_incident", "incident_id"),
)
