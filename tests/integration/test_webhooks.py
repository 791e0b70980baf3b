"""Signed webhooks to a real HTTP receiver on loopback; freeze events through the outbox."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.app import Crisis
from engine.calendar.rules import Scope
from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage
from engine.playbooks.channels import Channel
from notifiers.webhook import WebhookNotifier, signature, verify
from tests.conftest import COMMS
from tests.outbox import drain, outbox_worker

SECRET = "s3cret-for-tests"


class Receiver:
    """A webhook receiver that checks signatures and can answer with chosen statuses."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    SECRET,
                    timestamp=self.headers.get("X-Crisis-Timestamp", ""),
                    body=body,
                    signature_header=self.headers.get("X-Crisis-Signature", ""),
                )
                receiver.got.append(
                    {"ok": ok, "body": json.loads(body), "headers": dict(self.headers)}
                )
                self.send_response(receiver.status if ok else 401)
                if receiver.status == 429:
                    self.send_header("Retry-After", "7")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def message(url: str, body: str = '{"event": "test"}') -> OutboundMessage:
    return OutboundMessage(
        delivery_id=1, kind="webhook", channel="hooks", medium="webhook", address=url, body=body
    )


def test_signed_posts_verify_at_the_receiver(receiver: Receiver) -> None:
    WebhookNotifier(secret=SECRET).send(message(receiver.url))
    [got] = receiver.got
    assert got["ok"] and got["body"] == {"event": "test"}


def test_a_replay_with_an_old_timestamp_is_rejected(receiver: Receiver) -> None:
    import time

    body = b'{"event": "freeze.lifted"}'
    old = int(time.time()) - 3600
    assert not verify(
        SECRET, timestamp=str(old), body=body, signature_header=signature(SECRET, old, body)
    )
    with pytest.raises(SendFailed) as info:
        WebhookNotifier(secret=SECRET, clock=lambda: time.time() - 3600).send(message(receiver.url))
    assert receiver.got[-1]["ok"] is False and info.value.provider_code == "401"
    assert info.value.permanent


def test_a_tampered_body_or_wrong_secret_does_not_verify() -> None:
    import time

    ts = int(time.time())
    good = signature(SECRET, ts, b"{}")
    assert verify(SECRET, timestamp=str(ts), body=b"{}", signature_header=good)
    assert not verify(SECRET, timestamp=str(ts), body=b'{"x":1}', signature_header=good)
    assert not verify("other", timestamp=str(ts), body=b"{}", signature_header=good)


@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (400, True), (404, True)]
)
def test_errors_are_classified(receiver: Receiver, status: int, permanent: bool) -> None:
    receiver.status = status
    with pytest.raises(SendFailed) as info:
        WebhookNotifier(secret=SECRET).send(message(receiver.url))
    assert info.value.permanent is permanent
    if status == 429:
        assert info.value.retry_after == 7.0


def test_an_unreachable_receiver_is_transient() -> None:
    with pytest.raises(SendFailed) as info:
        WebhookNotifier(secret=SECRET, timeout=2).send(message("http://127.0.0.1:9/nothing"))
    assert not info.value.permanent


def test_slack_payload_shape(receiver: Receiver) -> None:
    msg = replace(message(receiver.url, body="Trains stopped at Lille"), subject="INC-1")
    WebhookNotifier(secret=SECRET, slack=True).send(msg)
    assert receiver.got[0]["body"] == {"text": "*INC-1*\nTrains stopped at Lille"}


def test_freeze_and_lift_events_reach_subscribed_schedulers(
    service: Crisis, receiver: Receiver
) -> None:
    """A Buffer-style scheduler subscribed to freeze events is told to pause and resume."""
    hook = Channel(
        name="scheduler",
        kind="webhook",
        medium="webhook",
        options={"url": receiver.url, "events": "freeze"},
    )
    service.channels["scheduler"] = hook
    fz = service.calendar.create_freeze(
        actor=COMMS, scope=Scope(tags=("promo",)), reason="incident"
    )
    service.calendar.lift_freeze(actor=COMMS, freeze_id=fz["id"], reason="over")
    drain(
        outbox_worker(
            service, notifiers={"scheduler": WebhookNotifier(secret=SECRET)}, concurrency=1
        )
    )
    assert [g["ok"] for g in receiver.got] == [True, True]
    events = [g["body"]["event"] for g in receiver.got]
    assert events == ["freeze.created", "freeze.lifted"]
    assert receiver.got[0]["body"]["freeze"]["scope"]["tags"] == ["promo"]
    assert receiver.got[1]["body"]["freeze"]["lifted_by"] == "cam"
