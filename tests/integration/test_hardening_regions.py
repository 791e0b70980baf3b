"""Regions are ids from one registry, normalised at every entrance (issue 13, item 1).

Before: declaring with regions ["Lille"] froze ``Lille`` while the promo stored ``lille``: the
promo went out during the sev1, ``GET /api/v1/freeze?region=lille`` said not frozen, the Lille
subscribers heard nothing and the Lille component stayed Operational.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.errors import ValidationFailed
from engine.kernel.ports import FakeClock
from engine.monitoring.alerts import AlertIn
from engine.playbooks.places import Places
from engine.schema import deliveries
from tests.conftest import ADMIN, COMMS, OPERATOR, ROOT
from tests.integration.test_freeze import MARKETER, ROBOT, post, state
from web.public import load_status_page

PLACES = Places.from_components(load_status_page(ROOT / "config" / "status.yaml").components)


@pytest.fixture
def registered(service: Crisis) -> Crisis:
    """The same engine, built with the places registry of config/status.yaml."""
    return Crisis(
        store=service.store,
        catalog=service.catalog,
        clock=service.clock,
        channels=service.channels,
        places=PLACES,
    )


def test_a_capitalised_region_freezes_the_lowercase_promo(
    registered: Crisis, clock: FakeClock
) -> None:
    svc = registered
    promo = post(svc, "facebook", "Lille Christmas market: 20% off!", 5, ["promo"], ["lille"])
    svc.audience.add_subscriber(
        actor=ADMIN, audience="passengers", phone="+15555550142", region="Lille"
    )
    inc = svc.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev1",
        title="Trains stopped near Lille",
        regions=[" Lille "],
    )
    assert inc.regions == ("lille",)
    clock.advance(timedelta(minutes=10))
    svc.calendar.publish_due()
    assert state(svc, promo) == "held"
    for typed in ("lille", "LILLE", "Lille"):
        assert svc.calendar.freeze_status(channel="facebook", tag="Promo", region=typed)["frozen"]
    svc.updates.draft_update(
        actor=OPERATOR, incident_id=inc.id, audience="passengers", template="holding"
    )
    with svc.store.engine.connect() as conn:
        phones = set(
            conn.execute(
                sa.select(deliveries.c.address).where(deliveries.c.channel == "sms")
            ).scalars()
        )
    assert "+15555550142" in phones  # the Lille subscriber hears the sev1 holding statement


def test_a_component_name_is_accepted_for_its_region(registered: Crisis) -> None:
    inc = registered.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev2",
        title="Lifts out",
        regions=["paris nord", "London St Pancras"],
    )
    assert inc.regions == ("paris", "london")


def test_an_unknown_region_is_a_clear_422_at_every_entrance(registered: Crisis) -> None:
    svc = registered
    with pytest.raises(ValidationFailed) as refused:
        svc.incidents.declare(
            actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="x", regions=["Lile"]
        )
    msg = refused.value.details["regions"]
    assert "Lile" in msg and "lille (Lille)" in msg and "calais" in msg
    with pytest.raises(ValidationFailed):
        post(svc, "facebook", "promo", 5, ["promo"], ["Lile"])
    with pytest.raises(ValidationFailed):
        svc.calendar.create_freeze(actor=COMMS, scope=Scope(regions=("Atlantis",)), reason="x")
    with pytest.raises(ValidationFailed):
        svc.calendar.freeze_status(region="Atlantis")
    with pytest.raises(ValidationFailed):
        svc.audience.add_subscriber(
            actor=ADMIN, audience="passengers", phone="+15555550100", region="x"
        )
    with pytest.raises(ValidationFailed):
        svc.calendar.import_posts(
            actor=MARKETER,
            data="channel,body,publish_at,tags,regions\n"
            "facebook,hi,2030-01-01T10:00:00Z,promo,Lile\n",
            content_type="text/csv",
        )


def test_manual_freezes_and_imports_normalise_what_people_type(registered: Crisis) -> None:
    svc = registered
    f = svc.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("PROMO",), regions=("Calais",)), reason="strike"
    )
    assert f["scope"]["regions"] == ["calais"] and f["scope"]["tags"] == ["promo"]
    n = svc.calendar.import_posts(
        actor=MARKETER,
        data="channel,body,publish_at,tags,regions\n"
        "facebook,hi,2030-01-01T10:00:00Z,Promo,CALAIS\n",
        content_type="text/csv",
    )
    assert n == 1
    [p], _ = svc.calendar.list_posts()
    assert p["regions"] == ["calais"] and p["tags"] == ["promo"]


def test_an_alert_label_with_an_unknown_region_still_declares_and_freezes_everywhere(
    registered: Crisis,
) -> None:
    """Monitoring must not lose an alert to a typo: unknown names are recorded, the freeze is
    global rather than scoped to nothing."""
    labels = {"alertname": "SignallingFailure", "severity": "critical", "line": "Lille,Nowhere"}
    out = registered.monitoring.ingest(
        actor=ROBOT,
        source="alertmanager",
        group_key="g",
        alerts=[AlertIn("firing", labels, "fp1", "2026-11-23T09:00:00Z")],
    )
    inc = registered.incidents.get(incident_id=out[0].incident_id)
    assert inc.regions == ("lille",)
    [declared] = [
        e for e in registered.incidents.timeline(incident_id=inc.id) if e.type == "declared"
    ]
    assert declared.data["unknown_regions"] == ["Nowhere"]
