"""One thread per incident and social channel: the first post's id and the one to reply to.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "social_threads",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("root_id", sa.String(200), nullable=False),
        sa.Column("last_id", sa.String(200), nullable=False),
        sa.Column("posts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("social_threads")
