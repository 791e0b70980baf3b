"""List pages cost a fixed number of queries however long they are (issue 21, read paths)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask

from engine.app import Crisis
from tests.conftest import OPERATOR
from tests.integration.test_web import bearer, login


@contextmanager
def counted(svc: Crisis) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            seen.append(statement)

    engine = svc.store.engine
    target = getattr(engine, "engine", engine)  # an engine with options wraps the real one
    sa.event.listen(target, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(target, "before_cursor_execute", note)


def declare(svc: Crisis, n: int) -> None:
    for i in range(n):
        svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev1",
            title=f"T{i}",
            regions=["lille"],
        )


def test_the_incident_list_does_not_grow_with_its_length(
    app: Flask, svc: Crisis, tokens: dict[str, str]
) -> None:
    client = app.test_client()
    declare(svc, 2)
    client.get("/api/v1/incidents", headers=bearer(tokens["viewer"]))  # notes the token's use
    with counted(svc) as few:
        assert client.get("/api/v1/incidents", headers=bearer(tokens["viewer"])).status_code == 200
    declare(svc, 10)
    with counted(svc) as many:
        body = client.get("/api/v1/incidents", headers=bearer(tokens["viewer"])).get_json()
    assert body["total"] == 12 and all(i["freezes"] for i in body["items"])
    assert len(many) == len(few)


def test_the_freeze_banner_is_one_query_and_posts_page_in_sql(app: Flask, svc: Crisis) -> None:
    client = app.test_client()
    login(client, "viewer")
    declare(svc, 1)
    with counted(svc) as seen:
        active, held, paused = svc.calendar.freeze_banner()
    assert (active, held, paused) == (1, 0, 0) and len(seen) == 1
    with counted(svc) as seen:
        items, total = svc.calendar.list_posts(per_page=5)
    assert (items, total) == ([], 0)
    assert any("LIMIT" in s.upper() for s in seen)
