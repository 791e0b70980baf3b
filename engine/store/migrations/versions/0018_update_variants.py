"""One update in every language its template is written in: the texts of its other locales
(``{locale: {"rendered": {channel: …}, "channel_texts": {channel: text}}}``), so each
subscriber gets exactly one message, in their language (issue 16).

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("updates", sa.Column("variants", sa.JSON))


def downgrade() -> None:
    op.drop_column("updates", "variants")
