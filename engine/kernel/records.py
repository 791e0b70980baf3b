"""The incident record every context shares, read and written the one way.

The ``incidents`` table belongs to the kernel: its columns are what an incident *is* (title,
severity, state, places, owner, times, the public-update cadence). Contexts change it only
through these functions; what a context keeps about an incident (its ladder, its freezes, its
updates) lives in that context's own tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.kernel._tables import incidents
from engine.kernel.errors import NotFound
from engine.kernel.models import Event, User

# What an incident's own use cases may change; the chain head belongs to the journal.
_WRITABLE = frozenset(c.name for c in incidents.c) - {"id", "last_seq", "last_hash"}

# Built once and run with parameters (every use case reads, locks or writes the incident).
_ROW = sa.select(incidents).where(incidents.c.id == sa.bindparam("incident"))
_ROW_LOCKED = _ROW.with_for_update()
_LOCK = sa.select(incidents.c.id).where(incidents.c.id == sa.bindparam("incident"))
_LOCK = _LOCK.with_for_update()
_INSERT = incidents.insert().returning(incidents.c.id)


def incident_row(conn: Connection, incident_id: int, *, lock: bool) -> Row[Any]:
    """The incident's row (``FOR UPDATE`` with ``lock``); NotFound if there is none."""
    row = find_incident(conn, incident_id, lock=lock)
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row


def find_incident(conn: Connection, incident_id: int, *, lock: bool) -> Row[Any] | None:
    """The incident's row, or None."""
    return conn.execute(_ROW_LOCKED if lock else _ROW, {"incident": incident_id}).first()


def lock_incident(conn: Connection, incident_id: int) -> bool:
    """Take the incident's row lock (the order every writer keeps); False if there is none."""
    return conn.execute(_LOCK, {"incident": incident_id}).first() is not None


def claim_incidents(conn: Connection, among: Any, *, limit: int) -> list[int]:
    """Lock up to ``limit`` incidents whose ids ``among`` selects, skipping locked ones.

    In id order, so two workers never deadlock: a busy incident is left to its holder.
    """
    q = (
        sa.select(incidents.c.id)
        .where(incidents.c.id.in_(among))
        .order_by(incidents.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(conn.execute(q).scalars())


def insert_incident(conn: Connection, **values: Any) -> int:
    _check(values)
    return int(conn.execute(_INSERT, values).scalar_one())


def update_incident(conn: Connection, incident_id: int, **values: Any) -> None:
    _check(values)
    conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))


def _check(values: dict[str, Any]) -> None:
    unknown = set(values) - _WRITABLE
    if unknown:
        raise ValueError(f"not an incident's own column: {', '.join(sorted(unknown))}")


def incident_page(
    conn: Connection, *, resolved: bool | None, severity: str | None, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    """Incidents, most recently declared first, and how many match."""
    q = sa.select(incidents)
    if resolved is not None:
        q = q.where(
            incidents.c.resolved_at.is_not(None) if resolved else incidents.c.resolved_at.is_(None)
        )
    if severity:
        q = q.where(incidents.c.severity == severity)
    total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
    rows = conn.execute(
        q.order_by(incidents.c.declared_at.desc(), incidents.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def unresolved(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Those of ``ids`` whose incident is still open."""
    wanted = set(ids)
    if not wanted:
        return set()
    q = sa.select(incidents.c.id).where(
        incidents.c.id.in_(wanted), incidents.c.resolved_at.is_(None)
    )
    return set(conn.execute(q).scalars())


def open_ids(conn: Connection) -> list[int]:
    """Every open incident's id (a handful, even on a bad day)."""
    q = sa.select(incidents.c.id).where(incidents.c.resolved_at.is_(None))
    return list(conn.execute(q).scalars())


def open_by_severity(conn: Connection) -> dict[str, int]:
    q = (
        sa.select(incidents.c.severity, sa.func.count())
        .where(incidents.c.resolved_at.is_(None))
        .group_by(incidents.c.severity)
    )
    return {str(s): int(n) for s, n in conn.execute(q).all()}


def pinned_versions(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """Each incident's pinned playbook version."""
    wanted = set(ids)
    if not wanted:
        return {}
    q = sa.select(incidents.c.id, incidents.c.playbook_version).where(incidents.c.id.in_(wanted))
    return {int(i): str(v) for i, v in conn.execute(q).all()}


def event_of(r: Row[Any]) -> Event:
    return Event(
        r.incident_id, r.seq, r.type, r.actor, r.at, dict(r.data or {}), r.prev_hash, r.hash
    )


def user_of(r: Row[Any]) -> User:
    return User(
        r.id,
        r.username,
        r.name,
        r.role,
        r.email,
        r.phone,
        r.timezone,
        bool(r.active),
        int(r.session_version or 0),
    )
