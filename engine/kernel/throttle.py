"""Rate limits every process agrees on: counted events in the database, sliding windows.

Each counted event is one row (bucket, key, time) in ``throttle_hits``. A limit asks how many
rows a key has in its bucket within a window; on PostgreSQL several web processes therefore
share one count. Rows older than the longest window are pruned as new ones are written.
The decisions (how long to wait) are pure functions in ``engine.kernel.backoff``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.kernel._tables import throttle_hits

KEEP = timedelta(days=1)  # the longest window any limit uses
_PRUNE_EVERY = 200


def hit(conn: Connection, *, bucket: str, key: str, now: datetime) -> None:
    """Count one event."""
    new_id = conn.execute(
        throttle_hits.insert()
        .values(bucket=bucket, key=key[:400], at=now)
        .returning(throttle_hits.c.id)
    ).scalar_one()
    if new_id % _PRUNE_EVERY == 0:
        conn.execute(throttle_hits.delete().where(throttle_hits.c.at < now - KEEP))


def times(conn: Connection, *, bucket: str, key: str, since: datetime) -> list[datetime]:
    t = throttle_hits.c
    return list(
        conn.execute(
            sa.select(t.at).where(t.bucket == bucket, t.key == key[:400], t.at > since)
        ).scalars()
    )


def count(conn: Connection, *, bucket: str, since: datetime, key: str | None = None) -> int:
    t = throttle_hits.c
    q = sa.select(sa.func.count()).where(t.bucket == bucket, t.at > since)
    if key is not None:
        q = q.where(t.key == key[:400])
    return int(conn.execute(q).scalar_one())


def clear(conn: Connection, *, bucket: str, key: str) -> int:
    t = throttle_hits.c
    return int(
        conn.execute(throttle_hits.delete().where(t.bucket == bucket, t.key == key)).rowcount
    )


def clear_prefix(conn: Connection, *, bucket: str, prefix: str) -> int:
    """Forget every key of ``bucket`` that starts with ``prefix``."""
    t = throttle_hits.c
    return int(
        conn.execute(
            throttle_hits.delete().where(
                t.bucket == bucket, t.key.startswith(prefix, autoescape=True)
            )
        ).rowcount
    )


def summary(conn: Connection, *, since: datetime) -> list[dict[str, object]]:
    """Counts per (bucket, key) since ``since``, most first: the admin's view."""
    t = throttle_hits.c
    rows = conn.execute(
        sa.select(t.bucket, t.key, sa.func.count().label("n"), sa.func.max(t.at).label("last"))
        .where(t.at > since)
        .group_by(t.bucket, t.key)
        .order_by(sa.func.count().desc())
        .limit(200)
    )
    return [{"bucket": r.bucket, "key": r.key, "count": r.n, "last": r.last} for r in rows]
