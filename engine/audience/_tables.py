"""The audience context's tables: only modules in ``engine.audience`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["subscribers"]

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("audience", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(200)),
    sa.Column("phone", sa.String(32)),
    sa.Column("email", sa.String(320)),
    sa.Column("region", sa.String(100)),
    sa.Column("opted_in", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # migration 0007: self-service subscriptions from the status page
    sa.Column("confirmed_at", UTCDateTime),  # None: waiting for the double opt-in
    sa.Column("confirm_hash", sa.String(64), index=True),
    sa.Column("manage_token", sa.String(64)),  # in every email's unsubscribe link
    sa.Column("source", sa.String(16), nullable=False, server_default="admin"),
    sa.Column("language", sa.String(16)),  # migration 0015: as the subscriber's list says
    sa.Index("ix_subscribers_manage_token", "manage_token", unique=True),
)
