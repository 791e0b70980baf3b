"""Scheduled sends registered for connectors that cannot list them (SendGrid batch_id sends).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "platform_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("send_at", TS, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("connector", "batch_id", name="uq_platform_batches_batch"),
    )


def downgrade() -> None:
    op.drop_table("platform_batches")
