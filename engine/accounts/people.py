"""Users as the other contexts see them: looked up by id or name, and people a roster seeds.

The ``users`` table is accounts' own; paging, updates and incidents read people through
these functions (rows with every user column) and never join the table themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.accounts._tables import users


def user_id(conn: Connection, username: str) -> int | None:
    row = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
    return None if row is None else int(row.id)


def user_by_id(conn: Connection, uid: int) -> Row[Any] | None:
    return conn.execute(sa.select(users).where(users.c.id == uid)).first()


def user_by_name(conn: Connection, username: str, *, active_only: bool) -> Row[Any] | None:
    q = sa.select(users).where(users.c.username == username)
    return conn.execute(q.where(users.c.active.is_(True)) if active_only else q).first()


def users_by_ids(conn: Connection, ids: Iterable[int], *, active_only: bool) -> dict[int, Row[Any]]:
    wanted = set(ids)
    if not wanted:
        return {}
    q = sa.select(users).where(users.c.id.in_(wanted))
    if active_only:
        q = q.where(users.c.active.is_(True))
    return {int(r.id): r for r in conn.execute(q).all()}


def active_admins(conn: Connection) -> list[Row[Any]]:
    q = sa.select(users).where(users.c.role == "admin", users.c.active.is_(True))
    return list(conn.execute(q.order_by(users.c.username)).all())


def seed_person(
    conn: Connection, *, username: str, role: str, contact: Mapping[str, Any], now: datetime
) -> tuple[int, bool]:
    """A roster's person as a user: (id, created). An existing user keeps role and password;
    only the contact details are refreshed."""
    known = user_id(conn, username)
    if known is not None:
        conn.execute(users.update().where(users.c.id == known).values(**contact))
        return known, False
    new = conn.execute(
        users.insert()
        .values(username=username, role=role, active=True, created_at=now, **contact)
        .returning(users.c.id)
    ).scalar_one()
    return int(new), True
