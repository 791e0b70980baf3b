"""Small query helpers that differ by backend."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

_IGNORING: dict[tuple[str, str], Any] = {}  # (dialect, table) → its INSERT … DO NOTHING


def ignoring(conn: Connection, table: sa.Table) -> Any:
    """The table's ``INSERT … ON CONFLICT DO NOTHING``, built once per process: executed with
    the row as parameters it skips building and hashing a new statement per row (a sixth of
    the cost of ``.values(**row)`` on a small row)."""
    key = (conn.dialect.name, table.name)
    stmt = _IGNORING.get(key)
    if stmt is None:
        dialect = postgresql if key[0] == "postgresql" else sqlite
        stmt = _IGNORING[key] = dialect.insert(table).on_conflict_do_nothing()
    return stmt


def insert_ignore(conn: Connection, table: sa.Table, **values: Any) -> None:
    """Insert a row unless one with the same key exists (race-free on both backends)."""
    conn.execute(ignoring(conn, table), values)


def insert_ignore_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows, skipping those whose key exists: one compiled statement, sent in
    batches of many rows each (SQLAlchemy's "insertmanyvalues"), however many rows."""
    if not rows:
        return
    conn.execute(ignoring(conn, table), rows)


def insert_ignore_select(
    conn: Connection, table: sa.Table, names: Sequence[str], select: sa.Select[Any]
) -> None:
    """``INSERT INTO table (names) SELECT …``, skipping rows whose key exists: one set-based
    statement however many rows the select yields."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).from_select(list(names), select).on_conflict_do_nothing()
    conn.execute(stmt)


def insert_select_once(
    conn: Connection, table: sa.Table, names: Sequence[str], select: sa.Select[Any]
) -> None:
    """``insert_ignore_select``, optimistically: a plain INSERT … SELECT first (in a
    savepoint), which costs a third less than one that checks each row for a conflict; only
    if some row is already there (a second writer of the same rows) is it done again
    skipping those."""
    try:
        with conn.begin_nested():
            conn.execute(table.insert().from_select(list(names), select))
    except sa.exc.IntegrityError:
        insert_ignore_select(conn, table, names, select)


def as_json(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as one JSON text (times in ISO 8601): the parameter of a PostgreSQL statement that
    reads a batch with ``json_to_recordset(%s::json)``. One string costs the driver a fraction
    of what a list per column does."""
    return json.dumps(rows, default=_iso, separators=(",", ":"))


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
