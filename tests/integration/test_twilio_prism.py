"""Conformance: our Twilio adapters, through the real twilio client, against Twilio's spec.

Stoplight Prism serves ../shared/twilio/twilio_api_v2010.json (Twilio's own OpenAPI spec)
and validates every request against it: a conforming request gets 201 with the spec's
example, a malformed one 422 with the violation. The malformed case is shown to fail, so
the check can fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioException

from engine.kernel.ports import OutboundMessage
from notifiers.twilio_common import make_client
from notifiers.twilio_sms import TwilioSmsNotifier
from notifiers.twilio_voice import TwilioVoiceNotifier
from tests.conftest import ROOT
from tests.prism import prism as serve_spec

ACCOUNT = "AC" + "a" * 32
HOW = (
    "needs Stoplight Prism: `npm install --prefix .ci/node @stoplight/prism-cli` (as .ci/run "
    "does) or set CRISIS_PRISM, and Twilio's spec at ../shared/twilio/ (or CRISIS_TWILIO_SPEC)"
)


def spec_path() -> Path:
    return Path(
        os.environ.get(
            "CRISIS_TWILIO_SPEC", ROOT.parent / "shared" / "twilio" / "twilio_api_v2010.json"
        )
    )


@pytest.fixture(scope="module")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with serve_spec(spec_path(), log, how=HOW) as url:
        yield url


def page(body: str = "[SEV1] INC-7 Lille. Reply ACK 7 to acknowledge.") -> OutboundMessage:
    return OutboundMessage(
        delivery_id=1,
        kind="page",
        channel="sms",
        medium="sms",
        address="+15555550105",
        body=body,
        meta={"incident_id": 7},
    )


def test_sms_requests_conform_to_twilios_spec(prism: str) -> None:
    client = make_client(account_sid=ACCOUNT, auth_token="token", base_url=prism)
    receipt = TwilioSmsNotifier(
        client=client,
        sender="+15005550006",
        status_callback="https://ops.example.org/hooks/twilio/status",
    ).send(page())
    assert receipt.provider_id.startswith("SM")
    via_service = TwilioSmsNotifier(client=client, messaging_service_sid="MG" + "b" * 32)
    assert via_service.send(page()).provider_id.startswith("SM")


def test_voice_requests_conform_to_twilios_spec(prism: str) -> None:
    client = make_client(account_sid=ACCOUNT, auth_token="token", base_url=prism)
    receipt = TwilioVoiceNotifier(
        client=client,
        sender="+15005550006",
        gather_url="https://ops.example.org/hooks/twilio/voice",
        status_callback="https://ops.example.org/hooks/twilio/status",
    ).send(page())
    assert receipt.provider_id.startswith("CA")


def test_a_malformed_request_fails_prisms_validation(prism: str) -> None:
    """The check can fail: a ValidityPeriod that is not an integer breaks the spec."""
    client = make_client(account_sid=ACCOUNT, auth_token="token", base_url=prism)
    with pytest.raises(TwilioException) as info:
        client.messages.create(
            to="+15555550105", from_="+15005550006", body="x", validity_period="not-a-number"
        )
    assert getattr(info.value, "status", None) == 422


def test_the_workers_asynchronous_requests_conform_too(prism: str) -> None:
    """The worker sends with ``send_async`` (aiohttp, the body encoded by us): the same spec."""
    import asyncio

    client = make_client(account_sid=ACCOUNT, auth_token="token", base_url=prism)
    sms = TwilioSmsNotifier(
        client=client,
        sender="+15005550006",
        status_callback="https://ops.example.org/hooks/twilio/status",
    )
    voice = TwilioVoiceNotifier(
        client=client,
        sender="+15005550006",
        gather_url="https://ops.example.org/hooks/twilio/voice",
    )

    async def both() -> tuple[str, str]:
        try:
            text = await sms.send_async(
                page("Trains held at Lille & Calais: 50% refunds, ünïcode.")
            )
            call = await voice.send_async(page())
            return text.provider_id, call.provider_id
        finally:
            await sms.aclose()
            await voice.aclose()

    text, call = asyncio.run(both())
    assert text.startswith("SM") and call.startswith("CA")


def test_a_malformed_asynchronous_request_fails_prisms_validation(prism: str) -> None:
    import asyncio

    from notifiers.twilio_common import async_twin

    client = async_twin(make_client(account_sid=ACCOUNT, auth_token="token", base_url=prism))

    async def bad() -> None:
        try:
            await client.messages.create_async(
                to="+15555550105", from_="+15005550006", body="x", validity_period="nope"
            )
        finally:
            await client.http_client.aclose()

    with pytest.raises(TwilioException) as info:
        asyncio.run(bad())
    assert getattr(info.value, "status", None) == 422
