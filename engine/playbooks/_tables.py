"""The playbooks context's tables: only modules in ``engine.playbooks`` use them (import-linter
keeps it so); other contexts ask this context's functions instead."""

from __future__ import annotations

import sqlalchemy as sa

from engine.store.columns import UTCDateTime, metadata

__all__ = ["playbook_versions"]

playbook_versions = sa.Table(
    "playbook_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("playbook_id", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("loaded_at", UTCDateTime, nullable=False),
)
