"""A subscriber's language, as their list says (imports keep it; issue 16's one message per
person in their language reads it).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("language", sa.String(16)))


def downgrade() -> None:
    op.drop_column("subscribers", "language")
