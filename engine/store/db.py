"""Create database engines and run migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on. Write transactions
(``Store.transaction``) start with ``BEGIN IMMEDIATE`` so writers queue on the database lock
instead of failing when a read transaction tries to upgrade; reads start a plain deferred
transaction and never wait for writers. Within one process, writers also queue on a lock of
their own before ``BEGIN IMMEDIATE``, first come first served: SQLite's busy handler makes a
waiting writer sleep and poll (up to 100 ms a nap), so four operators declaring at once on
``crisis serve`` waited up to a second behind each other's 10 ms transactions. PostgreSQL is
the multi-process engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from engine.store.turns import Turns

MIGRATIONS = Path(__file__).parent / "migrations"
# What "the database failed" means to callers outside the store (web keeps a stream open
# across a restart, the alarm clock retries): they catch this, never SQLAlchemy's names.
DatabaseError = sa.exc.SQLAlchemyError
KEYS_OPTION = "crisis_keys"  # the deployment's keys ride on the engine as an execution option
WRITER_WAIT = 30.0  # seconds, as SQLite's busy timeout: then "database is locked"
_writers: dict[str, Turns] = {}  # per SQLite database file, for the whole process
_writers_guard = threading.Lock()


def libpq_dsn(url: str) -> str:
    """The plain ``postgresql://`` form of a database URL, for a raw psycopg connection."""
    return (
        sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an engine for ``url`` set up the way the store expects."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_setup(engine)
        return engine
    engine = sa.create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


PING_IDLE = 2.0  # seconds a pooled connection may rest before it is checked on checkout


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection before use only if it rested for a while.

    A connection that rested may have been cut (a database restart, a proxy's idle
    timeout): it is pinged, and replaced if dead, so the request never sees it. One in
    constant use is not: a ping on every checkout (SQLAlchemy's ``pool_pre_ping``) was a
    third of the time of a status callback. If the database restarts under load, the
    statement that meets the dead connection fails once, and the pool drops every
    connection made before the restart.
    """

    @event.listens_for(engine, "checkin")
    def _rested(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since < PING_IDLE:
            return  # new (just connected) or in steady use
        try:
            with dbapi_conn.cursor() as cur:
                cur.execute("SELECT 1")
            dbapi_conn.rollback()
        except Exception as exc:  # the driver's own error: the connection is gone
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock up front (no deadly lock upgrade); readers do not, so
        # WAL lets them read while a writer works.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _writer_lock(engine: Engine) -> Turns | None:
    if engine.dialect.name != "sqlite":
        return None
    with _writers_guard:  # every Store on one file shares its lock
        return _writers.setdefault(str(engine.url.database), Turns())


@contextmanager
def _held(lock: Turns) -> Iterator[object]:
    if not lock.acquire(timeout=WRITER_WAIT):
        raise sa.exc.OperationalError(
            "BEGIN IMMEDIATE", {}, TimeoutError("database is locked: another writer of this "
                                                f"process held it for {WRITER_WAIT:.0f} s")
        )  # fmt: skip
    try:
        yield lock
    finally:
        lock.release()


class Store:
    """The database: an engine plus the transaction boundary the service layer uses."""

    def __init__(self, engine: Engine, *, keys: Any = None) -> None:
        self.engine = engine
        self._writer = _writer_lock(engine)
        if keys is not None:
            self.use_keys(keys)

    @classmethod
    def from_url(cls, url: str, *, keys: Any = None) -> Store:
        return cls(make_engine(url), keys=keys)

    def use_keys(self, keys: Any) -> None:
        """Give every connection the deployment's keys (kernel.keys.Keys), outside any table."""
        self.engine = self.engine.execution_options(**{KEYS_OPTION: keys})

    def ping(self) -> None:
        """One round trip to the database; DatabaseError if it does not answer."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("select 1"))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work: commits on success, rolls back on any exception."""
        with self._write_turn(), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    def driver_execute(self, sql: str, params: Any) -> None:
        """Run one PostgreSQL statement, a transaction of its own (autocommit: one round trip,
        where BEGIN, the statement and COMMIT take three), on the driver's cursor of a pooled
        connection: for the hottest one-statement writes (status callbacks), where SQLAlchemy's
        connection and transaction around the statement cost more CPU than the statement.
        Errors come as the store's DatabaseError, as elsewhere; nothing of a failed statement
        is kept."""
        if self._writer is not None:
            raise TypeError("driver_execute is for PostgreSQL; use transaction()")
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        raw = self.engine.raw_connection()
        driver: Any = raw.driver_connection  # psycopg's Connection
        try:
            driver.autocommit = True
            try:
                with driver.cursor() as cursor:
                    cursor.execute(sql, params)
            finally:
                driver.autocommit = False  # the pool hands out transactional connections
        except dbapi_error as exc:
            if driver.closed:
                raw.invalidate()
            raise sa.exc.DBAPIError.instance(None, None, exc, dbapi_error) from exc
        finally:
            raw.close()  # back to the pool (or away, if invalidated)

    def _write_turn(self) -> AbstractContextManager[object]:
        """On SQLite, this process's writers one at a time, in the order they came."""
        if self._writer is None:
            return nullcontext()
        return _held(self._writer)

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        from alembic import command

        with self.engine.begin() as conn:
            cfg = _alembic_config(conn)
            command.upgrade(cfg, "head")

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            rev: str | None = MigrationContext.configure(conn).get_current_revision()
            return rev

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        with self.engine.connect() as conn:
            head: str | None = ScriptDirectory.from_config(_alembic_config(conn)).get_current_head()
            return head

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg
