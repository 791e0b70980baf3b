"""Freeze connectors: the items a freeze paused on marketing platforms, and each run's state.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "external_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("freeze_id", sa.Integer, sa.ForeignKey("freezes.id"), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("send_at", TS),
        sa.Column("item", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("found_at", TS, nullable=False),
        sa.Column("paused_at", TS),
        sa.Column("settled_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("freeze_id", "connector", "ref", name="uq_external_items_ref"),
    )
    op.create_index("ix_external_items_state", "external_items", ["state"])
    op.create_table(
        "connector_runs",
        sa.Column("freeze_id", sa.Integer, sa.ForeignKey("freezes.id"), primary_key=True),
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("scans", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_scan_at", TS),
        sa.Column("confirmed_at", TS),
        sa.Column("failing", sa.Text),
        sa.Column("alerted_at", TS),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connector_runs")
    op.drop_index("ix_external_items_state", table_name="external_items")
    op.drop_table("external_items")
