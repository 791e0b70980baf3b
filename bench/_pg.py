"""A throw-away PostgreSQL schema for a benchmark run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from engine.store import make_engine


def base_url() -> str | None:
    return os.environ.get("CRISIS_BENCH_POSTGRES_URL") or os.environ.get("CRISIS_TEST_POSTGRES_URL")


@contextmanager
def schema_url(base: str) -> Iterator[str]:
    """Create a schema, yield a URL whose connections use it, then drop it."""
    name = "bench_" + uuid.uuid4().hex[:8]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
