"""The calendar context's tables: only modules in ``engine.calendar`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["posts", "freezes", "freeze_gate"]

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
