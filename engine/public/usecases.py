"""The public page's reads: published incidents, the version for caches, one entry for CAP."""

from __future__ import annotations

from datetime import timedelta

from engine.kernel.errors import NotFound
from engine.kernel.records import incident_row
from engine.kernel.uow import Work
from engine.playbooks.catalog import Catalog
from engine.playbooks.playbook import Playbook
from engine.public import projection as public


class PublicPage:
    def __init__(self, work: Work, *, catalog: Catalog) -> None:
        self.work = work
        self.catalog = catalog

    def incidents(self, *, days: int = public.HISTORY_DAYS) -> list[public.PublicIncident]:
        """Incidents with a published public entry in the last ``days`` days."""
        since = self.work.now() - timedelta(days=days)
        with self.work.read() as conn:
            return public.load_incidents(conn, since=since, playbook_of=self.catalog.pinned)

    def version(self) -> tuple[int, int]:
        """Changes whenever something is published: for ETags and caches."""
        with self.work.read() as conn:
            return public.version(conn)

    def entry(self, *, update_id: int) -> tuple[public.Entry, public.Entry | None, Playbook]:
        """One published update's entry, the one before it, and its incident's playbook."""
        with self.work.read() as conn:
            found = public.load_entry(conn, update_id=update_id)
            if found is None:
                raise NotFound(f"update {update_id} was not published on the status page")
            row = incident_row(conn, found[0].incident_id, lock=False)
            return found[0], found[1], self.catalog.pinned(conn, row.playbook_version)
