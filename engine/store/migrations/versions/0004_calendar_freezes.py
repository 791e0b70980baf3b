"""Content calendar, freezes and the freeze gate.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("publish_at", TS, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
        sa.Column("author", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="scheduled"),
        sa.Column("held_by", sa.JSON, nullable=False),
        sa.Column("review", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("published_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_posts_state_publish_at", "posts", ["state", "publish_at"])
    op.create_table(
        "freezes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("on_lift", sa.String(16), nullable=False, server_default="review"),
        sa.Column("cooldown_seconds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("lifted_by", sa.String(100)),
        sa.Column("lifted_at", TS),
        sa.Column("lift_reason", sa.Text),
    )
    op.create_index("ix_freezes_lifted_at", "freezes", ["lifted_at"])
    gate = op.create_table(
        "freeze_gate",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    )
    op.bulk_insert(gate, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("freeze_gate")
    op.drop_index("ix_freezes_lifted_at", "freezes")
    op.drop_table("freezes")
    op.drop_index("ix_posts_state_publish_at", "posts")
    op.drop_table("posts")
