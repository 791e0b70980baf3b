"""Set-based publishing: a delivery names the subscriber it is for (so an update to 100,000
people is one INSERT … SELECT per channel, the same meta in every row); an update's
deliveries are counted through an index rather than a scan of the outbox; the outbox's
claim and provider-id indexes become partial (a row is in them only while a query looks for
it there), so writing rows and changing their status maintain fewer index entries.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


PARTIAL = [  # name, columns, where
    ("ix_deliveries_due", ["next_attempt_at", "id"], "status = 'pending'"),
    ("ix_deliveries_leased", ["lease_until", "id"], "status = 'sending'"),
    ("ix_deliveries_provider_id", ["provider_id"], "provider_id IS NOT NULL"),
]


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("subscriber_id", sa.Integer))
    op.create_index("ix_deliveries_ref", "deliveries", ["ref_id"])
    op.drop_index("ix_deliveries_status_next", table_name="deliveries")
    op.drop_index("ix_deliveries_status_lease", table_name="deliveries")
    op.drop_index("ix_deliveries_provider_id", table_name="deliveries")
    for name, columns, where in PARTIAL:
        op.create_index(name, "deliveries", columns,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))  # fmt: skip


def downgrade() -> None:
    for name, _, _ in PARTIAL:
        op.drop_index(name, table_name="deliveries")
    op.create_index("ix_deliveries_provider_id", "deliveries", ["provider_id"])
    op.create_index("ix_deliveries_status_lease", "deliveries", ["status", "lease_until", "id"])
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at", "id"])
    op.drop_index("ix_deliveries_ref", table_name="deliveries")
    op.drop_column("deliveries", "subscriber_id")
