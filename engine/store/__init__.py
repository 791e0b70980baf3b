"""Durable storage: SQLAlchemy Core tables, the engine factory and Alembic migrations."""

from engine.store.db import Store, make_engine, normalise_url

__all__ = ["Store", "make_engine", "normalise_url"]
