"""The accounts context's tables: only modules in ``engine.accounts`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["users", "api_tokens"]

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("phone", sa.String(32)),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("quiet_hours", sa.String(11)),  # "23:00-07:00" in the user's timezone
    # migration 0008: logout, a password or role change and deactivation end every session
    sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
    # migration 0013: the user's Slack member id, for approvals and commands from Slack
    sa.Column("slack_user", sa.String(32)),
    sa.Index("ix_users_slack_user", "slack_user", unique=True),
)


api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("scope", sa.String(16), nullable=False, server_default="full"),  # migration 0008
)
