"""Migration 0008 on a database that has data: names become registry ids, tokens digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa

from engine.schema import freezes, incidents, subscribers
from tests.migrations import store_at


def test_upgrading_normalises_stored_names_and_hashes_unsubscribe_tokens(tmp_path: Path) -> None:
    store = store_at(tmp_path, "0007")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO playbook_versions (version, playbook_id, name, source, text,"
                " loaded_at) VALUES ('v', 'rail-disruption', 'Rail', 'rail.yaml', 'x',"
                " '2026-11-23 09:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO incidents (id, playbook_id, playbook_version, title, severity, state,"
                " regions, services, summary, declared_by, declared_at, updated_at)"
                " VALUES (1, 'rail-disruption', 'v', 't', 'sev1', 'declared', '[\"Lille\"]',"
                " '[\"Card Payments\"]', '', 'olu', '2026-11-23 09:00:00', '2026-11-23 09:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO freezes (id, incident_id, scope, reason, on_lift, created_by,"
                ' created_at) VALUES (1, 1, \'{"tags": ["Promo"], "regions": ["Lille"]}\','
                " 'r', 'review', 'playbook', '2026-11-23 09:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO subscribers (id, audience, email, region, opted_in, created_at,"
                " manage_token, source) VALUES (1, 'passengers', 'a@example.org', 'Lille', 1,"
                " '2026-11-23 09:00:00', 'old-plain-token', 'public')"
            )
        )
    store.upgrade()
    with store.engine.connect() as conn:
        inc = conn.execute(sa.select(incidents)).one()
        assert (inc.regions, inc.services) == (["lille"], ["card-payments"])
        scope = conn.execute(sa.select(freezes.c.scope)).scalar_one()
        assert scope["regions"] == ["lille"] and scope["tags"] == ["promo"]
        sub = conn.execute(sa.select(subscribers)).one()
        assert sub.region == "lille"
        assert sub.manage_token == hashlib.sha256(b"old-plain-token").hexdigest()
    store.dispose()
