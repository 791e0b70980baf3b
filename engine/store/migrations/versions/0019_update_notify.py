"""Whether an update notifies its audience's subscribers (SMS, email, voice) or only posts
(the status page, social, chat): Statuspage's "notify subscribers" box, ticked by default
(issue 17).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "updates", sa.Column("notify", sa.Boolean, nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    op.drop_column("updates", "notify")
