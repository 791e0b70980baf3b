"""Durable storage: SQLAlchemy Core tables, the engine factory and Alembic migrations."""

from engine.store.db import DatabaseError, Store, libpq_dsn, make_engine, normalise_url

__all__ = ["DatabaseError", "Store", "libpq_dsn", "make_engine", "normalise_url"]
