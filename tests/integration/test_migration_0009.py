"""Migration 0009 on a database that has data: each incident's ladder moves to paging's table."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.schema import incidents, ladders
from tests.migrations import migrate, store_at

ROW = (
    "INSERT INTO incidents (id, playbook_id, playbook_version, title, severity, state, regions,"
    " services, summary, declared_by, declared_at, updated_at, ladder_generation,"
    " ladder_started_at, ladder_stopped_at, escalation_step, escalation_exhausted) VALUES"
    " ({id}, 'rail-disruption', 'v', 't', 'sev1', 'declared', '[]', '[]', '', 'olu',"
    " '2026-11-23 09:00:00', '2026-11-23 09:00:00', {gen}, {started}, {stopped}, {step}, {spent})"
)


def test_upgrading_moves_every_ladder_and_leaves_incidents_without_one_alone(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path, "0008")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO playbook_versions (version, playbook_id, name, source, text,"
                " loaded_at) VALUES ('v', 'rail-disruption', 'Rail', 'rail.yaml', 'x',"
                " '2026-11-23 09:00:00')"
            )
        )
        for values in (
            {"id": 1, "gen": 2, "started": "'2026-11-23 09:05:00'", "stopped": "NULL",
             "step": "'2.1'", "spent": 0},
            {"id": 2, "gen": 0, "started": "'2026-11-23 09:00:00'",
             "stopped": "'2026-11-23 09:10:00'", "step": "'1.1'", "spent": 1},
            {"id": 3, "gen": 0, "started": "NULL", "stopped": "NULL", "step": "NULL", "spent": 0},
        ):  # fmt: skip
            conn.execute(sa.text(ROW.format(**values)))
    store.upgrade()
    with store.engine.connect() as conn:
        moved = {r.incident_id: r for r in conn.execute(sa.select(ladders)).all()}
        assert set(moved) == {1, 2}  # incident 3 never had a ladder
        assert (moved[1].generation, moved[1].step, moved[1].exhausted) == (2, "2.1", False)
        assert moved[1].stopped_at is None and moved[1].started_at is not None
        assert (moved[2].stopped_at is not None, moved[2].exhausted) == (True, True)
        columns = {c["name"] for c in sa.inspect(conn).get_columns("incidents")}
        assert not columns & {"ladder_generation", "escalation_step", "escalation_exhausted"}
        assert conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar() == 3
    migrate(store, "0008", down=True)  # and back: the columns return with their values
    with store.engine.connect() as conn:
        back = conn.execute(
            sa.text("SELECT id, ladder_generation, escalation_step FROM incidents ORDER BY id")
        ).all()
        assert [tuple(r) for r in back] == [(1, 2, "2.1"), (2, 0, "1.1"), (3, 0, None)]
    store.dispose()
