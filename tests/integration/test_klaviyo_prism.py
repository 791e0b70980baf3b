"""Conformance: our Klaviyo connector, through the official klaviyo-api client, against
Klaviyo's own descriptions of campaigns and flows (../shared/specs/klaviyo/, each served by
Prism with --errors). Every request the connector makes passes Prism's validation (read from
its log); a malformed one is shown to fail, so the check can fail."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from klaviyo_api import KlaviyoAPI

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem
from notifiers.marketing.klaviyo import KlaviyoPlatform
from tests.prism import SPECS, prism, request_violations

SPEC = SPECS / "specs" / "klaviyo"


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("prism") / "klaviyo-campaigns.log"
    with prism(SPEC / "campaigns.json", log, errors=True) as url:
        yield url, log


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("prism") / "klaviyo-flows.log"
    with prism(SPEC / "flows.json", log, errors=True) as url:
        yield url, log


def test_every_campaign_request_conforms(campaigns: tuple[str, Path]) -> None:
    url, log = campaigns
    platform = KlaviyoPlatform(api_key="pk_test", host=url, flows=False)
    platform.scheduled()
    when = datetime.now(UTC) + timedelta(days=1)
    item = ExternalItem("campaign:01J", "campaign", "x", when, state={"id": "01J"})
    assert platform.look(item) is not None
    with contextlib.suppress(SendFailed):  # Prism's example answer is no draft to look at
        platform.pause(item)
    platform.restore(item)
    assert request_violations(log) == []
    assert log.read_text().count("The request passed the validation rules") >= 5


def test_every_flow_request_conforms(flows: tuple[str, Path]) -> None:
    url, log = flows
    platform = KlaviyoPlatform(api_key="pk_test", host=url, campaigns=False)
    platform.scheduled()
    item = ExternalItem("flow:XyZ", "flow", "x", None, state={"id": "XyZ"})
    assert platform.look(item) is not None
    platform.pause(item)
    platform.restore(item)
    assert request_violations(log) == []


def test_a_malformed_request_fails_prisms_validation(campaigns: tuple[str, Path]) -> None:
    """The check can fail: listing campaigns without the filter Klaviyo requires."""
    url, log = campaigns
    api = KlaviyoAPI("pk_test", max_delay=0, max_retries=0, test_host=url)
    resp = api.Campaigns.get_campaigns_without_preload_content()
    assert resp.status == 422
    assert any("filter" in v for v in request_violations(log))
