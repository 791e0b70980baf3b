"""Conformance: our SendGrid connector, through the official sendgrid client, against
SendGrid's own description of Single Sends (../shared/specs/sendgrid/, served by Prism with
--errors). Every request the connector makes passes Prism's validation; a malformed one is
shown to fail it, so the check can fail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.sendgrid import SendGridPlatform
from tests.prism import SPECS, prism, request_violations

SPEC = SPECS / "specs" / "sendgrid" / "tsg_mc_singlesends_v3.json"
ID = "27c21bbf-a12c-440b-b8bf-c526975328ca"


LOG: list[Path] = []


@pytest.fixture(scope="module")
def sendgrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("prism") / "sendgrid.log"
    LOG[:] = [log]
    with prism(SPEC, log, errors=True) as url:
        yield url


def item(send_at: datetime | None) -> ExternalItem:
    return ExternalItem(f"singlesend:{ID}", "single_send", "x", send_at, state={"id": ID})


def test_every_request_of_the_connector_conforms(sendgrid: str) -> None:
    platform = SendGridPlatform(api_key="SG.key", host=sendgrid)
    found = platform.scheduled()  # the list, then each scheduled one's details
    assert all(i.kind == "single_send" and i.ref.startswith("singlesend:") for i in found)
    assert platform.look(item(None)) is not None
    platform.pause(item(None))
    platform.restore(item(datetime.now(UTC) + timedelta(days=1)))  # an ISO time
    platform.restore(item(datetime.now(UTC) - timedelta(hours=1)))  # a minute from now
    platform.discard(item(None))
    assert request_violations(LOG[0]) == []


def test_a_malformed_request_fails_prisms_validation(sendgrid: str) -> None:
    """The check can fail: a send_at that is not a string breaks SendGrid's description."""
    api = SendGridAPIClient(api_key="SG.key", host=sendgrid)
    with pytest.raises(HTTPError) as err:
        api.client.marketing.singlesends._(ID).schedule.put(request_body={"send_at": 1234})
    assert err.value.status_code == 422


def test_a_request_without_the_api_key_is_refused(sendgrid: str) -> None:
    platform = SendGridPlatform(api_key="", host=sendgrid)
    platform._api.client.request_headers.pop("Authorization", None)
    with pytest.raises(SendFailed) as err:
        platform.scheduled()
    assert err.value.provider_code == "401" and not err.value.permanent


SENDS = SPECS / "specs" / "sendgrid" / "tsg_scheduled_sends_v3.json"


@pytest.fixture(scope="module")
def scheduled_sends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("prism") / "sendgrid-sends.log"
    with prism(SENDS, log, errors=True) as url:
        yield url, log


def test_every_batch_request_conforms(scheduled_sends: tuple[str, Path]) -> None:
    url, log = scheduled_sends
    platform = SendGridPlatform(api_key="SG.key", host=url)
    bid = "HkJ5yLYULb7Rj8GKSx7u025ouWVlMgAi"
    when = datetime.now(UTC) + timedelta(days=1)
    batch = ExternalItem(f"batch:{bid}", "scheduled_send", "x", when, state={"batch_id": bid})
    platform.look(batch)  # GET …/scheduled_sends/{batch_id}
    platform.pause(batch)  # the example already has a status: PATCH to pause
    platform.restore(batch)  # DELETE the pause
    platform.discard(batch)  # PATCH to cancel
    assert request_violations(log) == []
    assert log.read_text().count("The request passed the validation rules") >= 4
    api = SendGridAPIClient(api_key="SG.key", host=url)
    with pytest.raises(HTTPError) as err:  # the check can fail: a status SendGrid has not
        api.client.user.scheduled_sends.post(request_body={"batch_id": "b1", "status": "stop"})
    assert err.value.status_code in (400, 422)  # the description's own 400 for a bad request
    assert any("status" in v for v in request_violations(log))
