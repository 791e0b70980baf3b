"""The outbox without foreign keys: ``deliveries.incident_id`` and ``deliveries.user_id`` stop
referencing their tables. A publish to 100,000 people writes 100,000 rows in a few INSERT …
SELECT statements, and each row's two key checks (one trigger call each on PostgreSQL) were a
third of the time (82 of 237 ms for a slice of 25,000 rows, EXPLAIN ANALYZE). Every outbox row
is written by the engine inside the transaction that holds its incident or user, and incidents
and users are never deleted, so the checks guarded nothing a test does not.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KEYS = [("incident_id", "incidents"), ("user_id", "users")]
# SQLite's keys have no names: batch mode names them by this convention to drop them.
NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
# Recreated as they were after 0016 (SQLite's copy of a table keeps an index's columns, and
# these are partial: say their predicate again rather than trust its reflection).
PARTIAL = [
    ("ix_deliveries_due", ["next_attempt_at", "id"], "status = 'pending'"),
    ("ix_deliveries_leased", ["lease_until", "id"], "status = 'sending'"),
    ("ix_deliveries_provider_id", ["provider_id"], "provider_id IS NOT NULL"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, _ in KEYS:
            op.execute(f"ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_{column}_fkey")
        return
    with op.batch_alter_table("deliveries", naming_convention=NAMES, recreate="always") as batch:
        for column, table in KEYS:
            batch.drop_constraint(f"fk_deliveries_{column}_{table}", type_="foreignkey")
    _partial_indexes()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, table in KEYS:
            op.create_foreign_key(
                f"deliveries_{column}_fkey", "deliveries", table, [column], ["id"]
            )
        return
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        for column, table in KEYS:
            batch.create_foreign_key(f"fk_deliveries_{column}_{table}", table, [column], ["id"])
    _partial_indexes()


def _partial_indexes() -> None:
    for name, columns, where in PARTIAL:
        op.drop_index(name, table_name="deliveries", if_exists=True)
        op.create_index(name, "deliveries", columns, sqlite_where=sa.text(where))
