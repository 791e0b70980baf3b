"""The kernel context's tables: only modules in ``engine.kernel`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["incidents", "events", "throttle_hits"]

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("playbook_id", sa.String(64), nullable=False),
    sa.Column(
        "playbook_version",
        sa.String(64),
        sa.ForeignKey("playbook_versions.version"),
        nullable=False,
    ),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("severity", sa.String(32), nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("declared_by", sa.String(100), nullable=False),
    sa.Column("declared_at", UTCDateTime, nullable=False),
    sa.Column("owner", sa.String(100)),
    sa.Column("acknowledged_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Head of the incident's hash chain: deleting the newest event is detected against it.
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_hash", sa.String(64), nullable=False, server_default=""),
    # The escalation ladder's state is paging's (escalation_ladders, migration 0009).
    sa.Column("last_public_update_at", UTCDateTime),
    sa.Column("next_update_due_at", UTCDateTime),
    sa.Index("ix_incidents_state", "state"),
)


events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("incident_id", "seq", name="uq_events_incident_seq"),
)


throttle_hits = sa.Table(  # rate limits shared by every process: one row per counted event
    "throttle_hits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.String(32), nullable=False),  # e.g. subscribe-sms, login-client
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_throttle_hits_bucket_key_at", "bucket", "key", "at"),
)
