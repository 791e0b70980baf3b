"""The database schema (SQLAlchemy Core). Migrations in ``migrations/`` must match it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware UTC datetimes on every backend; always return them aware and in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store keeps UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

playbook_versions = sa.Table(
    "playbook_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("playbook_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("loaded_at", UTCDateTime, nullable=False),
)

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
    # Escalation ladder: a new generation on every re-plan; stale timers see the change.
    sa.Column("ladder_generation", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ladder_started_at", UTCDateTime),
    sa.Column("ladder_stopped_at", UTCDateTime),
    sa.Column("escalation_step", sa.String(16)),
    sa.Column("escalation_exhausted", sa.Boolean, nullable=False, server_default=sa.false()),
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

# --- escalation, roster, timers, outbox (migration 0003) ------------------------------
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
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # page, notice, update, post, webhook
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    sa.Column("ref_id", sa.Integer),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("subject", sa.String(500)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("meta", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="6"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("provider_id", sa.String(200)),
    sa.Column("provider_status", sa.String(32)),
    sa.Column("last_error", sa.Text),
    sa.Column("error_code", sa.String(32)),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    sa.Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    sa.Index("ix_deliveries_provider_id", "provider_id"),
)

sandbox_messages = sa.Table(
    "sandbox_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("delivery_id", sa.Integer),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("medium", sa.String(32), nullable=False),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("subject", sa.String(500)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
)

# --- content calendar and freezes (migration 0004) -------------------------------------
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

# --- the public status page's entries (migration 0005) -----------------------------------
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

# --- operational updates (migration 0006) ------------------------------------------------
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
    sa.Column("rendered", sa.JSON, nullable=False),
    sa.Column("violations", sa.JSON, nullable=False),
    sa.Column("override_reason", sa.Text),
    sa.Column("reject_reason", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("editors", sa.JSON),  # migration 0008: everyone who wrote a later revision
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
    sa.Index("ix_subscribers_manage_token", "manage_token", unique=True),
)

# --- monitoring alerts (migration 0007) ----------------------------------------------------
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


# --- hardening (migration 0008) ------------------------------------------------------------
inbound_seen = sa.Table(  # signed Twilio requests already handled: a replay is refused
    "inbound_seen",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

early_receipts = sa.Table(  # status callbacks that arrived before their message's SID was stored
    "early_receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("provider_id", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("code", sa.String(32)),
    sa.Column("detail", sa.String(32)),  # the provider's own word for the status
    sa.Column("received_at", UTCDateTime, nullable=False),
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
