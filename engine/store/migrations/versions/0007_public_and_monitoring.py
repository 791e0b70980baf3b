"""The public status page's snapshot columns, self-service subscriptions, monitoring alerts.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("status_entries") as t:
        t.add_column(sa.Column("update_id", sa.Integer))
        t.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="update"))
        t.add_column(sa.Column("severity", sa.String(32)))
        t.add_column(sa.Column("state", sa.String(64)))
        t.add_column(sa.Column("regions", sa.JSON))
        t.add_column(sa.Column("services", sa.JSON))
    op.create_index("ix_status_entries_incident", "status_entries", ["incident_id"])
    with op.batch_alter_table("subscribers") as t:
        t.add_column(sa.Column("confirmed_at", TS))
        t.add_column(sa.Column("confirm_hash", sa.String(64)))
        t.add_column(sa.Column("manage_token", sa.String(64)))
        t.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="admin"))
    op.execute("UPDATE subscribers SET confirmed_at = created_at")
    op.create_index("ix_subscribers_manage_token", "subscribers", ["manage_token"], unique=True)
    op.create_index("ix_subscribers_confirm_hash", "subscribers", ["confirm_hash"])
    op.create_table(
        "monitor_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("source", "group_key", name="uq_monitor_groups_key"),
    )
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("starts_at", sa.String(40), nullable=False),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.UniqueConstraint("source", "fingerprint", "starts_at", name="uq_monitor_alerts_key"),
    )
    op.create_index("ix_monitor_alerts_incident", "monitor_alerts", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_monitor_alerts_incident", "monitor_alerts")
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_groups")
    op.drop_index("ix_subscribers_confirm_hash", "subscribers")
    op.drop_index("ix_subscribers_manage_token", "subscribers")
    with op.batch_alter_table("subscribers") as t:
        for name in ("source", "manage_token", "confirm_hash", "confirmed_at"):
            t.drop_column(name)
    op.drop_index("ix_status_entries_incident", "status_entries")
    with op.batch_alter_table("status_entries") as t:
        for name in ("services", "regions", "state", "severity", "kind", "update_id"):
            t.drop_column(name)
