"""Escalation and cadence state, roster, timers, the delivery outbox, sandbox messages.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("ladder_generation", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("ladder_started_at", TS))
        batch.add_column(sa.Column("ladder_stopped_at", TS))
        batch.add_column(sa.Column("escalation_step", sa.String(16)))
        batch.add_column(
            sa.Column("escalation_exhausted", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("last_public_update_at", TS))
        batch.add_column(sa.Column("next_update_due_at", TS))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.String(11)))
    op.create_table(
        "roster_members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("role", "user_id", name="uq_roster_role_user"),
    )
    op.create_table(
        "rotations",
        sa.Column("role", sa.String(64), primary_key=True),
        sa.Column("handoff_weekday", sa.Integer, nullable=False),
        sa.Column("handoff_time", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("anchor_date", sa.Date, nullable=False),
    )
    op.create_table(
        "roster_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_roster_overrides_role", "roster_overrides", ["role"])
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("outcome", sa.String(32)),
        sa.Column("fired_at", TS),
        sa.Column("fired_by", sa.String(100)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_timers_state_due", "timers", ["state", "due_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
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
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_until", TS),
        sa.Column("provider_id", sa.String(200)),
        sa.Column("provider_status", sa.String(32)),
        sa.Column("last_error", sa.Text),
        sa.Column("error_code", sa.String(32)),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
    )
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_provider_id", "deliveries", ["provider_id"])
    op.create_table(
        "sandbox_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("delivery_id", sa.Integer),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("medium", sa.String(32), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(500)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sent_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_messages")
    op.drop_index("ix_deliveries_provider_id", "deliveries")
    op.drop_index("ix_deliveries_status_next", "deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_timers_state_due", "timers")
    op.drop_table("timers")
    op.drop_index("ix_roster_overrides_role", "roster_overrides")
    op.drop_table("roster_overrides")
    op.drop_table("rotations")
    op.drop_table("roster_members")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("quiet_hours")
    with op.batch_alter_table("incidents") as batch:
        for col in (
            "next_update_due_at",
            "last_public_update_at",
            "escalation_exhausted",
            "escalation_step",
            "ladder_stopped_at",
            "ladder_started_at",
            "ladder_generation",
        ):
            batch.drop_column(col)
