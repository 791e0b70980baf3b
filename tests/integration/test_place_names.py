"""Issue 16: regions have display names ("Calais", "London St Pancras", not ``calais``) in
messages, on the pages and in the timeline; templates still reach the ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from engine.app import Crisis
from engine.kernel.models import Incident
from tests.conftest import ADMIN, OPERATOR
from tests.integration.test_acting import text
from tests.integration.test_hardening_regions import PLACES, registered
from tests.integration.test_web import login
from web import create_app
from web.config import Config, Secret

__all__ = ["registered"]  # the fixture this module uses


@pytest.fixture
def named_app(registered: Crisis) -> Flask:
    registered.accounts.add_user(
        actor=ADMIN, username="operator", role="operator",
        password="operator-password",
    )  # fmt: skip
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=registered, test_config={"TESTING": True})


def test_messages_pages_and_timeline_name_regions_as_people_know_them(
    registered: Crisis, named_app: Flask
) -> None:
    svc = registered
    inc = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev1", title="Tunnel closed",
        regions=["london", "calais"],
    )  # fmt: skip
    shown = svc.updates.preview_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", template="holding"
    )
    for channel, body in shown["rendered"].items():
        assert "London St Pancras, Calais" in body, (channel, body)
        assert "london" not in body and "calais" not in body, (channel, body)
    client = named_app.test_client()
    login(client, "operator")
    page = text(client, f"/incidents/{inc.id}")
    facts = page[page.index("Regions") : page.index("Declared")]
    assert facts.endswith("London St Pancras, Calais "), facts
    assert "Declared sev1 in London St Pancras, Calais" in page
    assert "London St Pancras, Calais" in text(client, "/")  # the board
    svc.incidents.amend(actor=OPERATOR, incident_id=inc.id, regions=["lille"])
    assert "regions from London St Pancras, Calais to Lille" in text(client, f"/incidents/{inc.id}")


def test_templates_see_names_and_ids() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    inc = Incident(
        id=3, playbook_id="rail-disruption", playbook_version="1", title="t", severity="sev1",
        state="declared", regions=("london", "nowhere"), services=("payments",), summary="",
        declared_by="olu", declared_at=now, updated_at=now,
    )  # fmt: skip
    seen = inc.template_vars(regions=PLACES.regions, services=PLACES.services)
    assert seen["regions"] == ["London St Pancras", "nowhere"]  # an unknown id shows as itself
    assert seen["region_ids"] == ["london", "nowhere"] and seen["service_ids"] == ["payments"]
    assert inc.template_vars()["regions"] == ["london", "nowhere"]  # no registry: the ids
