"""Hardening: session versions, token scopes, update editors, replay and receipt tables,
shared rate limits; unsubscribe tokens no longer stored in plain text.

Revision ID: 0008
Revises: 0007
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as t:
        t.add_column(sa.Column("session_version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("api_tokens") as t:
        t.add_column(sa.Column("scope", sa.String(16), nullable=False, server_default="full"))
    with op.batch_alter_table("updates") as t:
        t.add_column(sa.Column("editors", sa.JSON))
    # Unsubscribe links already sent keep working: their tokens are kept as SHA-256 digests.
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, manage_token FROM subscribers WHERE manage_token IS NOT NULL")
    )
    for sid, token in list(rows):
        conn.execute(
            sa.text("UPDATE subscribers SET manage_token = :h WHERE id = :id"),
            {"h": hashlib.sha256(token.encode()).hexdigest(), "id": sid},
        )
    _normalise_places(conn)
    op.create_table(
        "inbound_seen",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_table(
        "early_receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("code", sa.String(32)),
        sa.Column("detail", sa.String(32)),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_early_receipts_provider_id", "early_receipts", ["provider_id"])
    op.create_table(
        "throttle_hits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.String(32), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_throttle_hits_bucket_key_at", "throttle_hits", ["bucket", "key", "at"])


def _key(name: str) -> str:
    return "-".join(str(name).split()).casefold()


def _normalise_places(conn: sa.Connection) -> None:
    """Regions, services and tags stored as typed ("Lille") become registry ids ("lille")."""
    for table, cols in (
        ("incidents", ("regions", "services")),
        ("posts", ("regions", "tags")),
        ("status_entries", ("regions", "services")),
    ):
        t = sa.table(table, sa.column("id"), *(sa.column(c, sa.JSON) for c in cols))
        for row in list(conn.execute(sa.select(t))):
            values = {c: [_key(v) for v in (getattr(row, c) or [])] for c in cols}
            if any(values[c] != list(getattr(row, c) or []) for c in cols):
                conn.execute(t.update().where(t.c.id == row.id).values(**values))
    f = sa.table("freezes", sa.column("id"), sa.column("scope", sa.JSON))
    for row in list(conn.execute(sa.select(f))):
        scope = dict(row.scope or {})
        new = scope | {
            k: [_key(v) for v in scope.get(k) or []] for k in ("tags", "regions") if k in scope
        }
        if new != scope:
            conn.execute(f.update().where(f.c.id == row.id).values(scope=new))
    s = sa.table("subscribers", sa.column("id"), sa.column("region"))
    for row in list(conn.execute(sa.select(s).where(s.c.region.is_not(None)))):
        if _key(row.region) != row.region:
            conn.execute(s.update().where(s.c.id == row.id).values(region=_key(row.region)))


def downgrade() -> None:
    op.drop_table("throttle_hits")
    op.drop_table("early_receipts")
    op.drop_table("inbound_seen")
    with op.batch_alter_table("updates") as t:
        t.drop_column("editors")
    with op.batch_alter_table("api_tokens") as t:
        t.drop_column("scope")
    with op.batch_alter_table("users") as t:
        t.drop_column("session_version")
