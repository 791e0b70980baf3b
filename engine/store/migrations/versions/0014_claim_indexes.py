"""Indexes for work at volume: the outbox's two claim queries (due rows by next attempt, and
claims whose lease ran out), each served by its own index at any backlog; an incident's
pending timers found without scanning every timer (declare and acknowledge cancel them).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_status_next", table_name="deliveries")
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at", "id"])
    op.create_index("ix_deliveries_status_lease", "deliveries", ["status", "lease_until", "id"])
    op.create_index("ix_timers_incident_state", "timers", ["incident_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_timers_incident_state", table_name="timers")
    op.drop_index("ix_deliveries_status_lease", table_name="deliveries")
    op.drop_index("ix_deliveries_status_next", table_name="deliveries")
    op.create_index("ix_deliveries_status_next", "deliveries", ["status", "next_attempt_at"])
