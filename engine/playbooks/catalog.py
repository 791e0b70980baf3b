"""The playbooks in force, and every version an incident was ever declared under.

The catalog holds the current version of each playbook. Versions live on in the database
(``playbook_versions``), so an incident keeps running under the text it was declared with
after the file is edited, and after a restart. Reloading is all or nothing: a directory with
any invalid playbook is refused and the last good catalog stays in force.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.kernel.errors import NotFound
from engine.playbooks._tables import playbook_versions
from engine.playbooks.loading import load_many, load_text
from engine.playbooks.playbook import Playbook
from engine.store.queries import insert_ignore


class Catalog:
    """Current playbooks by id, plus a cache of pinned versions by hash."""

    def __init__(
        self,
        playbooks: Mapping[str, Playbook],
        *,
        paths: Collection[Path] = (),
        channels: Collection[str] | None = None,
    ) -> None:
        self._current = dict(playbooks)
        self._versions = {pb.version: pb for pb in playbooks.values()}
        self._lock = threading.Lock()
        self.paths = tuple(paths)
        self.channels = channels

    @classmethod
    def load(cls, paths: Collection[Path], *, channels: Collection[str] | None) -> Catalog:
        """Load every playbook under ``paths``; raises PlaybookInvalid listing all problems."""
        return cls(load_many(list(paths), channels=channels), paths=paths, channels=channels)

    def reload(self) -> list[str]:
        """Reload from the same paths; on any problem raise and keep the current playbooks.

        Returns the ids whose version changed.
        """
        fresh = load_many(list(self.paths), channels=self.channels)
        with self._lock:
            changed = [
                pid
                for pid, pb in fresh.items()
                if pid not in self._current or self._current[pid].version != pb.version
            ]
            self._current = fresh
            self._versions.update({pb.version: pb for pb in fresh.values()})
        return changed

    def all(self) -> list[Playbook]:
        return sorted(self._current.values(), key=lambda pb: pb.id)

    def current(self, playbook_id: str) -> Playbook:
        try:
            return self._current[playbook_id]
        except KeyError:
            known = ", ".join(sorted(self._current)) or "none loaded"
            raise NotFound(f"no playbook {playbook_id!r} (playbooks: {known})") from None

    def pinned(self, conn: Connection, version: str) -> Playbook:
        """Return the playbook version an incident pinned, from memory or the database."""
        pb = self._versions.get(version)
        if pb is not None:
            return pb
        row = conn.execute(
            sa.select(playbook_versions).where(playbook_versions.c.version == version)
        ).first()
        if row is None:
            raise NotFound(f"playbook version {version[:12]} is not stored")
        # Channels are not re-checked: the pinned text was valid when the incident began.
        pb = load_text(row.text, file=row.source)
        with self._lock:
            self._versions[version] = pb
        return pb

    def record(self, conn: Connection, pb: Playbook, *, now: datetime) -> None:
        """Store ``pb``'s text under its version, once."""
        insert_ignore(
            conn,
            playbook_versions,
            version=pb.version,
            playbook_id=pb.id,
            name=pb.name,
            source=pb.source,
            text=pb.text,
            loaded_at=now,
        )
