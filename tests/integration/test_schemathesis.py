"""schemathesis generates requests from the served OpenAPI document and checks the answers.

No request may get a 500, and every answer must match what the document says: its status
codes, content types and response schemas. The app runs in-process (WSGI) on SQLite.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from engine.app import Crisis
from tests.conftest import OPERATOR

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(app: Flask, svc: Crisis) -> Any:
    """The schema, loaded from the running app, with a few rows for ids to find."""
    for title in ("Lille signalling", "Calais <b>fence</b>"):
        inc = svc.incidents.declare(
            actor=OPERATOR,
            playbook="rail-disruption",
            severity="sev2",
            title=title,
            regions=["lille"],
        )
        svc.updates.draft_update(
            actor=OPERATOR,
            incident_id=inc.id,
            audience="passengers",
            body="Next update by 10:00 GMT.",
        )
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_the_api_matches_its_openapi_document(api_schema: Any, tokens: dict[str, str]) -> None:
    """Every operation, 100 generated requests each, as an admin (who may call all of them)."""
    auth = {"Authorization": f"Bearer {tokens['admin']}"}
    tested = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):  # an endless event stream: tested on its own
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=100,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        check()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 20, tested
