"""The public context's tables: only modules in ``engine.public`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["status_entries"]

status_entries = sa.Table(
    "status_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    sa.Column("delivery_id", sa.Integer, unique=True),
    sa.Column("title", sa.String(500)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
    # migration 0007: what the public saw, as it was when published
    sa.Column("update_id", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False, server_default="update"),  # or resolved
    sa.Column("severity", sa.String(32)),
    sa.Column("state", sa.String(64)),
    sa.Column("regions", sa.JSON),
    sa.Column("services", sa.JSON),
    sa.Index("ix_status_entries_published_at", "published_at"),
    sa.Index("ix_status_entries_incident", "incident_id"),
)
