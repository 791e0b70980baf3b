"""The updates context's tables: only modules in ``engine.updates`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["chat_cards", "social_threads", "update_approvals", "updates"]

updates = sa.Table(
    "updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True),
    sa.Column("audience", sa.String(64), nullable=False),
    sa.Column("template", sa.String(64)),
    sa.Column("locale", sa.String(16), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("channel_texts", sa.JSON, nullable=False),
    sa.Column("corrects", sa.Integer),  # migration 0013: the published update this corrects
    sa.Column("rendered", sa.JSON, nullable=False),
    sa.Column("violations", sa.JSON, nullable=False),
    sa.Column("override_reason", sa.Text),
    sa.Column("reject_reason", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("editors", sa.JSON),  # migration 0008: everyone who wrote a later revision
    # migration 0018: the other locales' texts, {locale: {"rendered": …, "channel_texts": …}}
    sa.Column("variants", sa.JSON),
    # migration 0019: False posts it (status page, social, chat) without telling subscribers
    sa.Column("notify", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_updates_status", "status"),
)


update_approvals = sa.Table(
    "update_approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("update_id", sa.Integer, sa.ForeignKey("updates.id"), nullable=False, index=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("by", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("override_reason", sa.Text),
)

# migration 0012: one thread per incident and social channel; later posts reply to its last.
social_threads = sa.Table(
    "social_threads",
    metadata,
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("root_id", sa.String(200), nullable=False),  # the provider's id of the first post
    sa.Column("last_id", sa.String(200), nullable=False),  # what the next post replies to
    sa.Column("posts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


chat_cards = sa.Table(  # the approval card of an update in a chat channel (migration 0013)
    "chat_cards",
    metadata,
    sa.Column("update_id", sa.Integer, sa.ForeignKey("updates.id"), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("provider_id", sa.String(200)),  # the message's id; None while being posted
    sa.Column("poster", sa.Integer, nullable=False),  # the delivery that posts it
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
