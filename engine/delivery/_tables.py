"""The delivery context's tables: only modules in ``engine.delivery`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["deliveries", "sandbox_messages", "inbound_seen", "early_receipts", "PENDING", "SENDING"]

_PENDING = sa.text("status = 'pending'")
_SENDING = sa.text("status = 'sending'")
_HAS_PROVIDER_ID = sa.text("provider_id IS NOT NULL")

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # page, notice, update, post, webhook
    # No foreign keys on the incident and the user (migration 0017): a publish writes 100,000
    # rows at once, and their key checks were a third of it.
    sa.Column("incident_id", sa.Integer),
    sa.Column("ref_id", sa.Integer),
    sa.Column("user_id", sa.Integer),
    sa.Column("subscriber_id", sa.Integer),  # migration 0016: whom a personal update is for
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
    sa.Column("error_kind", sa.String(16)),  # migration 0013: "credentials" (a person must fix)
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime),
    # Migration 0016: partial indexes, so a row is in an index only while a query looks for
    # it there (a delivered row leaves the claim indexes; a pending one has no provider id):
    # writing 100,000 rows, and every later change of status, maintains fewer entries. The
    # claim queries say the status as a literal (``PENDING``, ``SENDING``), which both
    # backends need to use a partial index.
    sa.Index(
        "ix_deliveries_due",
        "next_attempt_at",
        "id",
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    ),  # fmt: skip
    sa.Index(
        "ix_deliveries_leased",
        "lease_until",
        "id",
        postgresql_where=_SENDING,
        sqlite_where=_SENDING,
    ),  # fmt: skip
    sa.Index(
        "ix_deliveries_provider_id",
        "provider_id",
        postgresql_where=_HAS_PROVIDER_ID,
        sqlite_where=_HAS_PROVIDER_ID,
    ),  # fmt: skip
    sa.Index("ix_deliveries_ref", "ref_id"),  # an update's deliveries, counted
)

PENDING = deliveries.c.status == sa.literal_column("'pending'")  # as the partial index says
SENDING = deliveries.c.status == sa.literal_column("'sending'")


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
