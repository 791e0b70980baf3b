"""The roster's use cases: load it, see who is on call, change members and overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.delivery import ledger
from engine.kernel.models import Actor, User
from engine.kernel.records import open_ids
from engine.kernel.roles import Perm, require
from engine.kernel.uow import Work
from engine.paging import rosterdb


class Roster:
    def __init__(self, work: Work) -> None:
        self.work = work

    def load_roster(self, *, actor: Actor, seed: rosterdb.RosterSeed) -> dict[str, int]:
        """Upsert people and replace the seeded roles' members and rotations."""
        require(actor, Perm.ADMIN, "load the roster")
        with self.work.transaction() as conn:
            return rosterdb.apply_seed(conn, seed, now=self.work.now())

    def roster(self, *, at: datetime | None = None) -> list[dict[str, Any]]:
        with self.work.read() as conn:
            return rosterdb.roles_view(conn, at=at or self.work.now())

    def roster_add(self, *, actor: Actor, role: str, username: str) -> None:
        require(actor, Perm.ADMIN, "change the roster")
        with self.work.transaction() as conn:
            rosterdb.add_member(conn, role=role, username=username)

    def roster_remove(self, *, actor: Actor, role: str, username: str) -> None:
        require(actor, Perm.ADMIN, "change the roster")
        with self.work.transaction() as conn:
            rosterdb.remove_member(conn, role=role, username=username)

    def roster_override(
        self, *, actor: Actor, role: str, username: str, starts_at: datetime, ends_at: datetime
    ) -> None:
        """Put ``username`` on call for ``role`` between two instants (holidays, swaps)."""
        require(actor, Perm.ADMIN, "change the roster")
        with self.work.transaction() as conn:
            rosterdb.add_override(
                conn,
                role=role,
                username=username,
                starts_at=starts_at,
                ends_at=ends_at,
                actor=actor.name,
                now=self.work.now(),
            )

    def last_paged_incident(self, *, user: User) -> int | None:
        """The open incident that most recently paged ``user`` (for a bare "ACK" reply)."""
        with self.work.read() as conn:
            return ledger.last_paged(conn, user_id=user.id, among=open_ids(conn))
