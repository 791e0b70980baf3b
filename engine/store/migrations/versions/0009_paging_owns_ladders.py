"""The escalation ladder's state moves from the incident row to paging's own table.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MOVED = (
    ("ladder_generation", "generation"),
    ("ladder_started_at", "started_at"),
    ("ladder_stopped_at", "stopped_at"),
    ("escalation_step", "step"),
    ("escalation_exhausted", "exhausted"),
)


def upgrade() -> None:
    op.create_table(
        "escalation_ladders",
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", TS),
        sa.Column("stopped_at", TS),
        sa.Column("step", sa.String(16)),
        sa.Column("exhausted", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    old = ", ".join(o for o, _ in MOVED)
    new = ", ".join(n for _, n in MOVED)
    op.execute(
        f"INSERT INTO escalation_ladders (incident_id, {new}) SELECT id, {old} FROM incidents"  # noqa: S608
        " WHERE ladder_started_at IS NOT NULL OR ladder_generation > 0"
    )
    # A plain DROP COLUMN on both backends (SQLite 3.35+): batch mode would rebuild the
    # incidents table, which the foreign keys of every other table forbid.
    for column, _ in MOVED:
        op.execute(f"ALTER TABLE incidents DROP COLUMN {column}")


def downgrade() -> None:
    for column, kind in (
        ("ladder_generation", "INTEGER NOT NULL DEFAULT 0"),
        ("ladder_started_at", "TIMESTAMP WITH TIME ZONE"),
        ("ladder_stopped_at", "TIMESTAMP WITH TIME ZONE"),
        ("escalation_step", "VARCHAR(16)"),
        ("escalation_exhausted", "BOOLEAN NOT NULL DEFAULT false"),
    ):
        op.execute(f"ALTER TABLE incidents ADD COLUMN {column} {kind}")
    for old, new in MOVED:
        op.execute(
            f"UPDATE incidents SET {old} = (SELECT {new} FROM escalation_ladders l"  # noqa: S608 (names above)
            " WHERE l.incident_id = incidents.id)"
            " WHERE id IN (SELECT incident_id FROM escalation_ladders)"
        )
    op.drop_table("escalation_ladders")
