"""The calendar context's tables: only modules in ``engine.calendar`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = [
    "connector_runs",
    "external_items",
    "freeze_gate",
    "freezes",
    "platform_batches",
    "posts",
]

posts = sa.Table(
    "posts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("publish_at", UTCDateTime, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="scheduled"),
    sa.Column("held_by", sa.JSON, nullable=False),  # freeze ids
    sa.Column("review", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("published_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_posts_state_publish_at", "state", "publish_at"),
)


freezes = sa.Table(
    "freezes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    sa.Column("scope", sa.JSON, nullable=False),  # {channels, tags, regions}
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("on_lift", sa.String(16), nullable=False, server_default="review"),
    sa.Column("cooldown_seconds", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("lifted_by", sa.String(100)),
    sa.Column("lifted_at", UTCDateTime),
    sa.Column("lift_reason", sa.Text),
    sa.Index("ix_freezes_lifted_at", "lifted_at"),
)


# One row. Publishing holds it FOR SHARE while it checks freezes and marks posts published;
# creating a freeze updates it (an exclusive lock) first. So a publish either commits before
# the freeze or sees it, whatever the size of the calendar.
freeze_gate = sa.Table(
    "freeze_gate",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)

# --- what freezes paused on marketing platforms (migration 0010) -------------------------
# One row per item a connector found in a freeze's scope: what it was (to restore it exactly)
# and where it stands. The outbox carries each scan, pause and restore as a durable job.
external_items = sa.Table(
    "external_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("freeze_id", sa.Integer, sa.ForeignKey("freezes.id"), nullable=False),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("ref", sa.String(300), nullable=False),  # the platform's id for it
    sa.Column("kind", sa.String(32), nullable=False),  # the platform's word: single_send, flow…
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("send_at", UTCDateTime),  # as it was scheduled before the freeze
    sa.Column("item", sa.JSON, nullable=False),  # ExternalItem.to_json() as found
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    # pausing → paused | failed; on lift: restoring → restored, review, discarding → discarded,
    # gone (deleted on the platform), kept (another freeze still holds it)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),  # what changed on the platform, or the last error
    sa.Column("found_at", UTCDateTime, nullable=False),
    sa.Column("paused_at", UTCDateTime),
    sa.Column("settled_at", UTCDateTime),  # restored, discarded, or reviewed
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("freeze_id", "connector", "ref", name="uq_external_items_ref"),
    sa.Index("ix_external_items_state", "state"),
)

# One row per (freeze, connector): the scans, and whether everything found is paused.
connector_runs = sa.Table(
    "connector_runs",
    metadata,
    sa.Column("freeze_id", sa.Integer, sa.ForeignKey("freezes.id"), primary_key=True),
    sa.Column("connector", sa.String(64), primary_key=True),
    sa.Column("scans", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_scan_at", UTCDateTime),
    sa.Column("confirmed_at", UTCDateTime),  # every item found so far is paused
    sa.Column("failing", sa.Text),  # the last error while a job retries; None when healthy
    sa.Column("alerted_at", UTCDateTime),  # the comms lead was told it is unconfirmed
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# migration 0011: scheduled mail sends marketing registered (a platform that cannot list them,
# like SendGrid's batch_id sends, learns of them here); our tags and regions, as declared.
platform_batches = sa.Table(
    "platform_batches",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("connector", sa.String(64), nullable=False),
    sa.Column("batch_id", sa.String(200), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("send_at", UTCDateTime, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("regions", sa.JSON, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("connector", "batch_id", name="uq_platform_batches_batch"),
)
