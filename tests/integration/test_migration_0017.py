"""Migration 0017: the outbox loses its two foreign keys, and nothing else (rows, partial
indexes) changes; downgrading puts the keys back."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.store import Store
from tests.migrations import migrate, store_at

ROW = (
    "INSERT INTO deliveries (kind, incident_id, channel, address, body, meta, status, attempts,"
    " max_attempts, next_attempt_at, dedupe_key, created_at, updated_at) VALUES"
    " ('update', {incident}, 'sms', '+15555550100', 'b', '{{}}', 'pending', 0, 12,"
    " '2026-12-03 09:00:00', '{key}', '2026-12-03 09:00:00', '2026-12-03 09:00:00')"
)
PARTIAL = {"ix_deliveries_due", "ix_deliveries_leased", "ix_deliveries_provider_id"}


def partial_indexes(conn: sa.Connection) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries'"
        )
    )
    return {name: sql for name, sql in rows if name in PARTIAL}


def test_upgrading_drops_the_keys_and_keeps_the_rows_and_the_partial_indexes(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path, "0016")
    with store.engine.begin() as conn:
        assert len(sa.inspect(conn).get_foreign_keys("deliveries")) == 2
        conn.execute(sa.text(ROW.format(incident="NULL", key="kept")))
        before = partial_indexes(conn)
    assert set(before) == PARTIAL and all(" WHERE " in sql for sql in before.values())
    store.upgrade()
    with store.engine.begin() as conn:
        assert sa.inspect(conn).get_foreign_keys("deliveries") == []
        assert conn.execute(sa.text("SELECT dedupe_key FROM deliveries")).scalars().all() == [
            "kept"
        ]
        assert partial_indexes(conn) == before  # the same predicates
        conn.execute(sa.text(ROW.format(incident=999, key="no-such-incident")))  # not checked
        conn.execute(sa.text("DELETE FROM deliveries WHERE dedupe_key = 'no-such-incident'"))
    migrate(store, "0016", down=True)
    with store.engine.begin() as conn:
        assert {fk["referred_table"] for fk in sa.inspect(conn).get_foreign_keys("deliveries")} == {
            "incidents",
            "users",
        }
        assert partial_indexes(conn) == before
    store.dispose()


def test_the_outbox_has_no_foreign_keys_on_either_backend(store: Store) -> None:
    with store.engine.connect() as conn:
        assert sa.inspect(conn).get_foreign_keys("deliveries") == []
        assert {i["name"] for i in sa.inspect(conn).get_indexes("deliveries")} >= PARTIAL
