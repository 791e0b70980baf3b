"""Approvals from chat: a user's Slack member id, and the approval card each chat channel
shows for an update (its message id, so a decision made anywhere updates it); a delivery's
error kind ("credentials": a revoked token, shown on the incident page); the published update
a correction corrects.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # plain ADD COLUMN: a batch rebuild of users is refused by the tables that refer to it
    op.add_column("users", sa.Column("slack_user", sa.String(32)))
    op.create_index("ix_users_slack_user", "users", ["slack_user"], unique=True)
    op.add_column("deliveries", sa.Column("error_kind", sa.String(16)))
    op.add_column("updates", sa.Column("corrects", sa.Integer))
    op.create_table(
        "chat_cards",
        sa.Column("update_id", sa.Integer, sa.ForeignKey("updates.id"), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("provider_id", sa.String(200)),  # None while the first post is on its way
        sa.Column("poster", sa.Integer, nullable=False),  # the delivery that posts it
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chat_cards")
    op.drop_column("updates", "corrects")
    op.drop_column("deliveries", "error_kind")
    op.drop_index("ix_users_slack_user", table_name="users")
    op.drop_column("users", "slack_user")
