"""Migration tests: a SQLite store left at an old revision, moved between revisions by hand."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from engine.store import Store
from engine.store.db import _alembic_config


def store_at(tmp_path: Path, revision: str) -> Store:
    """A new SQLite store upgraded to ``revision`` only (``Store.upgrade`` takes it to head)."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(store, revision)
    return store


def migrate(store: Store, revision: str, *, down: bool = False) -> None:
    """Upgrade (or downgrade) ``store`` to ``revision``, in one transaction."""
    with store.engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(_alembic_config(conn), revision)
