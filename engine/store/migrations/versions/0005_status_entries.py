"""Entries written to the public status page by the status_page channel.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("delivery_id", sa.Integer, unique=True),
        sa.Column("title", sa.String(500)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_status_entries_published_at", "status_entries", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_status_entries_published_at", "status_entries")
    op.drop_table("status_entries")
