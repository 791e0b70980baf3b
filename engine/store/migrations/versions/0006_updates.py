"""Operational updates, their approvals, and subscribers per audience.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "updates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
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
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS),
    )
    op.create_index("ix_updates_incident_id", "updates", ["incident_id"])
    op.create_index("ix_updates_status", "updates", ["status"])
    op.create_table(
        "update_approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("update_id", sa.Integer, sa.ForeignKey("updates.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("override_reason", sa.Text),
    )
    op.create_index("ix_update_approvals_update_id", "update_approvals", ["update_id"])
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("audience", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("phone", sa.String(32)),
        sa.Column("email", sa.String(320)),
        sa.Column("region", sa.String(100)),
        sa.Column("opted_in", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_subscribers_audience", "subscribers", ["audience"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_audience", "subscribers")
    op.drop_table("subscribers")
    op.drop_index("ix_update_approvals_update_id", "update_approvals")
    op.drop_table("update_approvals")
    op.drop_index("ix_updates_status", "updates")
    op.drop_index("ix_updates_incident_id", "updates")
    op.drop_table("updates")
