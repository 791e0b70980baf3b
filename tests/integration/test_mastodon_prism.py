"""Conformance: our Mastodon connector, through Mastodon.py, against the Mastodon REST API's
description (../shared/specs/mastodon/, community-maintained from Mastodon's documentation),
served by Prism. A malformed request is shown to fail, so the check can fail.

Prism runs without --errors here: the description's own example answers for scheduled
statuses do not validate against its schemas, and --errors turns that (Prism's output, not
our request) into a 500. Requests are validated either way: an invalid one gets 422."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonAPIError

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem, OutboundMessage
from notifiers.marketing.mastodon import MastodonPlatform
from tests.prism import SPECS, prism, request_violations

SPEC = SPECS / "specs" / "mastodon" / "schema.json"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("prism") / "mastodon.log"
    with prism(SPEC, log) as url:
        yield url, log


def item(send_at: datetime | None) -> ExternalItem:
    return ExternalItem("status:1234", "scheduled_status", "x", send_at, state={"id": "1234"})


def test_every_request_of_the_connector_conforms(served: tuple[str, Path]) -> None:
    url, log = served
    platform = MastodonPlatform(base_url=url, access_token="token")
    platform.scheduled()
    with contextlib.suppress(SendFailed):  # Prism's example here is a list, not a status
        platform.look(item(None))
    platform.pause(item(None))
    platform.restore(item(datetime.now(UTC) + timedelta(days=1)))
    with contextlib.suppress(SendFailed):  # Prism answers an empty 200, Mastodon sends {}
        platform.discard(item(None))
    assert request_violations(log) == []
    assert log.read_text().count("The request passed the validation rules") >= 5


def test_a_malformed_request_fails_prisms_validation(served: tuple[str, Path]) -> None:
    """The check can fail: a scheduled status listed with a limit that is not a number."""
    url, log = served
    api = Mastodon(access_token="token", api_base_url=url, version_check_mode="none")
    with pytest.raises(MastodonAPIError) as err:
        api._Mastodon__api_request("GET", "/api/v1/scheduled_statuses", {"limit": "many"})
    assert "422" in str(err.value) or (len(err.value.args) > 1 and err.value.args[1] == 422)
    assert any("limit must be integer" in v for v in request_violations(log))


def test_the_status_notifier_conforms(served: tuple[str, Path]) -> None:
    """Operational updates as statuses: the instance's limit, then a reply in the thread."""
    from notifiers.mastodon import MastodonNotifier

    url, log = served
    before = len(request_violations(log))
    notifier = MastodonNotifier(base_url=url, access_token="token")
    assert notifier.limit() > 0
    msg = status(
        "Trains between Lille and London are stopped. Next update by 10:20 GMT.", reply_to="109"
    )
    assert notifier.send(msg).provider_id
    assert request_violations(log)[before:] == []


def test_a_correction_edits_the_status_as_the_description_says(served: tuple[str, Path]) -> None:
    """A correction is ``PUT /api/v1/statuses/{id}`` with the new text: validated by Prism."""
    from notifiers.mastodon import MastodonNotifier

    url, log = served
    before = log.read_text().count("The request passed the validation rules")
    n_violations = len(request_violations(log))
    notifier = MastodonNotifier(base_url=url, access_token="token")
    msg = status("Trains between Lille and London leave from platform 4, not 5.", edit_of="109")
    assert notifier.send(msg).provider_id
    assert request_violations(log)[n_violations:] == []
    text = log.read_text()
    assert "PUT" in text and "/api/v1/statuses/109" in text
    assert text.count("The request passed the validation rules") > before


def status(body: str, **meta: str) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=10, kind="update", channel="mastodon", medium="social", address="@brand",
        body=body, meta={"incident_id": 7, "locale": "en", **meta},
    )  # fmt: skip
