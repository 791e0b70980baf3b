"""One contract for every notifier, each against its real counterpart on loopback.

Contract: a send returns a receipt with the provider's id and the counterpart receives the
message for the address; a transient provider failure raises SendFailed(permanent=False) and
a permanent one SendFailed(permanent=True). Counterparts: the database (sandbox, status
page), HTTP receivers (webhook, social), aiosmtpd (email), a fake Twilio (SMS, voice).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from engine.delivery.sandbox import SandboxNotifier
from engine.kernel.errors import SendFailed
from engine.kernel.ports import FakeClock, Notifier, OutboundMessage
from engine.public.status_page import StatusPageNotifier
from engine.schema import sandbox_messages, status_entries
from engine.store import Store
from notifiers.email import EmailNotifier
from notifiers.social import SocialNotifier
from notifiers.twilio_common import make_client
from notifiers.twilio_sms import TwilioSmsNotifier
from notifiers.twilio_voice import TwilioVoiceNotifier
from notifiers.webhook import WebhookNotifier, verify
from tests.fakes.twilio import ACCOUNT, TOKEN, FakeTwilio

FRENCH = (
    "Les trains entre Lille et Londres sont à l'arrêt. Prochaine information à 22 h 15 — merci."
)


@dataclass
class Harness:
    notifier: Notifier
    address: str
    received: Callable[[], list[str]]  # what the counterpart got, as text
    meta: dict[str, Any] = field(default_factory=lambda: {"incident_id": 7})
    transient: Callable[[], None] | None = None
    permanent: Callable[[], None] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpReceiver:
    """Records JSON posts; answers with the next queued status (default 200/201)."""

    def __init__(
        self,
        *,
        ok: int = 200,
        check: Callable[[Any, bytes], bool] | None = None,
        answer: bytes = b"{}",
    ) -> None:
        self.bodies: list[bytes] = []
        self.queue: list[int] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                good = check(self.headers, body) if check else True
                outer.bodies.append(body)
                status = outer.queue.pop(0) if outer.queue else (ok if good else 401)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/in"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """aiosmtpd handler: records messages; can refuse the next recipient (4xx or 5xx)."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.refuse: list[str] = []

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: Any,
    ) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted"


def _db(tmp_path: Path) -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'n.db'}")
    store.upgrade()
    return store


def mastodon_harness() -> Harness:
    """A Mastodon status on mastodon-mock (a stateful Mastodon), faults from its own control."""
    import html
    import re
    import urllib.request

    from mastodon_mock.testing import MockServer

    from notifiers.mastodon import MastodonNotifier

    server = MockServer().start()
    me = server.client("alice").me()

    def received() -> list[str]:
        statuses = server.client("bob").account_statuses(me["id"])
        return [html.unescape(re.sub(r"<[^>]+>", "", s["content"])) for s in statuses]

    def fault(status: int) -> None:
        rule = {"match": {"methods": ["POST"]}, "effect": {"type": "status", "status": status},
                "count": 1}  # fmt: skip
        req = urllib.request.Request(
            f"{server.base_url}/api/v1/_mock/faults", data=json.dumps(rule).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        urllib.request.urlopen(req, timeout=10).close()

    h = Harness(
        MastodonNotifier(base_url=server.base_url, access_token="alice_token", timeout=5),
        "@brand",
        received,
        transient=lambda: fault(503),
        permanent=lambda: fault(422),
    )
    h.cleanup.append(server.stop)
    return h


def served(route: Any) -> tuple[str, Callable[[], None]]:
    """A loopback stand-in serving ``route``: its URL, and how to stop it."""
    from tests.fakes.http import serve

    ctx = serve(route)
    return ctx.__enter__(), lambda: ctx.__exit__(None, None, None)


def slack_harness() -> Harness:
    """A Slack bot message on the loopback Slack that checks chat.postMessage's rules."""
    from notifiers.slack import SlackBotNotifier
    from tests.fakes.slack import TOKEN, FakeSlack

    fake = FakeSlack()
    url, stop = served(fake.route)
    h = Harness(
        SlackBotNotifier(token=TOKEN, base_url=f"{url}/api", timeout=5),
        "C0INCIDENTS",
        lambda: [m["text"] for m in fake.messages],
        transient=lambda: fake.fail_next(429, error="ratelimited", retry_after=3),
        permanent=lambda: fake.fail_next(error="channel_not_found"),
    )
    h.cleanup.append(stop)
    return h


def teams_harness() -> Harness:
    """An Adaptive Card on the loopback Workflows webhook that checks Teams' rules."""
    from notifiers.teams import TeamsNotifier
    from tests.fakes.teams import FakeTeams, url

    fake = FakeTeams()
    base, stop = served(fake.route)
    h = Harness(
        TeamsNotifier(url=url(base), public_url="https://ops.example.org", timeout=5),
        "teams",
        fake.texts,
        transient=lambda: fake.fail_next(429, retry_after=3),
        permanent=lambda: fake.fail_next(400),
    )
    h.cleanup.append(stop)
    return h


def x_harness() -> Harness:
    """A post on the loopback X that checks OAuth 1.0a signatures and POST /2/tweets' rules."""
    from notifiers.x import XNotifier
    from tests.fakes.x import ACCESS, CONSUMER, FakeX

    fake = FakeX()
    base, stop = served(fake.route)
    notifier = XNotifier(consumer_key=CONSUMER[0], consumer_secret=CONSUMER[1],
                         access_token=ACCESS[0], access_token_secret=ACCESS[1],
                         base_url=base, timeout=5)  # fmt: skip
    h = Harness(
        notifier,
        "@brand",
        fake.texts,
        transient=lambda: fake.fail_next(429, reset_in=3),
        permanent=lambda: fake.fail_next(400),
    )
    h.cleanup.append(stop)
    return h


def bluesky_harness(tmp_path: Path) -> Harness:
    """A post in the reference PDS on loopback; faults from a proxy in front of it."""
    from atproto import Client

    from notifiers.bluesky import BlueskyNotifier
    from tests.fakes.proxy import fault_proxy
    from tests.pds import pds

    server_ctx = pds(tmp_path / "pds.log")
    server = server_ctx.__enter__()
    proxy_ctx = fault_proxy(server.url, on="createRecord")
    proxy, url = proxy_ctx.__enter__()
    notifier = BlueskyNotifier(handle=server.handle, app_password=server.password, base_url=url)

    def received() -> list[str]:
        reader = Client(base_url=server.url)
        reader.login(server.handle, server.password, fetch_bsky_profile=False)
        got = reader.com.atproto.repo.list_records(
            {"repo": server.did, "collection": "app.bsky.feed.post"}
        )
        reader.request.close()
        return [r.value.text for r in got.records]

    h = Harness(
        notifier,
        "@brand.test",
        received,
        transient=lambda: proxy.fail_next(503, {"error": "InternalServerError"}),
        permanent=lambda: proxy.fail_next(400, {"error": "InvalidRequest", "message": "bad"}),
    )
    h.cleanup += [
        notifier.close,
        lambda: proxy_ctx.__exit__(None, None, None),
        lambda: server_ctx.__exit__(None, None, None),
    ]
    return h


def build(kind: str, tmp_path: Path) -> Harness:
    if kind == "bluesky":
        return bluesky_harness(tmp_path)
    if kind == "x":
        return x_harness()
    if kind == "teams":
        return teams_harness()
    if kind == "mastodon":
        return mastodon_harness()
    if kind == "slack_bot":
        return slack_harness()
    if kind in ("sandbox", "status_page"):
        store = _db(tmp_path)
        table = sandbox_messages if kind == "sandbox" else status_entries
        cls = SandboxNotifier if kind == "sandbox" else StatusPageNotifier
        h = Harness(
            cls(store=store, clock=FakeClock()),
            "status" if kind != "sandbox" else "+15555550105",
            lambda: [r.body for r in store.engine.connect().execute(sa.select(table))],
            meta={"incident_id": None},  # no incident row in this bare database
        )
        h.cleanup.append(store.dispose)
        return h
    if kind in ("webhook", "social"):
        secret = "s3cret"
        check = (
            (
                lambda hd, b: verify(
                    secret,
                    timestamp=hd["X-Crisis-Timestamp"],
                    body=b,
                    signature_header=hd["X-Crisis-Signature"],
                )
            )
            if kind == "webhook"
            else (lambda hd, b: hd["Authorization"] == "Bearer tok")
        )
        rx = HttpReceiver(check=check, answer=b'{"id": "buf-123"}')
        notifier: Notifier = (
            WebhookNotifier(secret=secret)
            if kind == "webhook"
            else SocialNotifier(token="tok", profile="twitter-main")
        )
        h = Harness(
            notifier,
            rx.url,
            lambda: [json.loads(b)["text"] for b in rx.bodies],
            transient=lambda: rx.queue.append(503),
            permanent=lambda: rx.queue.append(400),
        )
        h.cleanup.append(rx.close)
        return h
    if kind == "email":
        sink = SmtpSink()
        port = free_port()
        ctl = Controller(sink, hostname="127.0.0.1", port=port)
        ctl.start()
        n = EmailNotifier(host="127.0.0.1", port=port, sender="ops@example.org", security="none")

        def received() -> list[str]:
            out = []
            for raw in sink.messages:
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                out.append(msg.get_body(preferencelist=("plain",)).get_content())
            return out

        h = Harness(
            n,
            "dana@example.org",
            received,
            transient=lambda: sink.refuse.append("451 4.3.0 try again later"),
            permanent=lambda: sink.refuse.append("550 5.1.1 no such user"),
        )
        h.cleanup.append(ctl.stop)
        return h
    fake = FakeTwilio()
    client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url, timeout=2)
    notifier = (
        TwilioSmsNotifier(client=client, sender="+15005550006")
        if kind == "twilio_sms"
        else TwilioVoiceNotifier(
            client=client,
            sender="+15005550006",
            gather_url="https://ops.example.org/hooks/twilio/voice",
        )
    )
    field_name = "Body" if kind == "twilio_sms" else "Twiml"
    h = Harness(
        notifier,
        "+15555550105",
        lambda: [r["form"].get(field_name, "") for r in fake.requests],
        transient=lambda: fake.fail_next(429, 20429, retry_after=3),
        permanent=lambda: fake.fail_next(400, 21211),
    )
    h.cleanup.append(fake.close)
    return h


ALL = [
    "sandbox",
    "status_page",
    "webhook",
    "social",
    "mastodon",
    "slack_bot",
    "teams",
    "x",
    "bluesky",
    "email",
    "twilio_sms",
    "twilio_voice",
]
FALLIBLE = [
    "webhook",
    "social",
    "mastodon",
    "slack_bot",
    "teams",
    "x",
    "bluesky",
    "email",
    "twilio_sms",
    "twilio_voice",
]


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[[str], Harness]]:
    made: list[Harness] = []

    def factory(kind: str) -> Harness:
        h = build(kind, tmp_path / kind)
        made.append(h)
        return h

    (tmp_path).mkdir(exist_ok=True)
    for kind in ALL:
        (tmp_path / kind).mkdir(exist_ok=True)
    yield factory
    for h in made:
        for c in h.cleanup:
            c()


def msg(
    address: str, body: str = FRENCH, *, base: dict[str, Any] | None = None, **meta: Any
) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=7,
        kind="page",
        channel="x",
        medium="sms",
        address=address,
        body=body,
        subject="[SEV1] INC-7 Tunnel",
        meta={**(base if base is not None else {"incident_id": 7}), **meta},
    )


@pytest.mark.parametrize("kind", ALL)
def test_a_send_arrives_and_returns_the_providers_id(
    make: Callable[[str], Harness], kind: str
) -> None:
    h = make(kind)
    receipt = h.notifier.send(msg(h.address, base=h.meta))
    assert receipt.provider_id
    [got] = h.received()
    assert "Lille et Londres sont à l'arrêt" in got or "Lille et Londres sont &#224;" in got, got


@pytest.mark.parametrize("kind", FALLIBLE)
def test_a_transient_failure_is_retryable(make: Callable[[str], Harness], kind: str) -> None:
    h = make(kind)
    assert h.transient is not None
    h.transient()
    with pytest.raises(SendFailed) as info:
        h.notifier.send(msg(h.address))
    assert info.value.permanent is False
    h.notifier.send(msg(h.address))  # and the next attempt goes through


@pytest.mark.parametrize("kind", FALLIBLE)
def test_a_permanent_failure_is_not_retryable(make: Callable[[str], Harness], kind: str) -> None:
    h = make(kind)
    assert h.permanent is not None
    h.permanent()
    with pytest.raises(SendFailed) as info:
        h.notifier.send(msg(h.address))
    assert info.value.permanent is True


# --- per-adapter details --------------------------------------------------------------------
def test_email_headers_parts_and_french_text(make: Callable[[str], Harness]) -> None:
    h = make("email")
    sink_msgs = h.received
    notifier = h.notifier
    assert isinstance(notifier, EmailNotifier)
    notifier.public_url = "https://status.example.org/"
    notifier.send(msg(h.address, unsubscribe_token="abc"))
    [text] = sink_msgs()
    link = "https://status.example.org/status/unsubscribe/abc"
    assert text.replace("\r\n", "\n").strip() == f"{FRENCH}\n\n--\nUnsubscribe: {link}"
    raw = build_raw(h)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "[SEV1] INC-7 Tunnel" and parsed["To"] == "dana@example.org"
    assert parsed["From"] == "ops@example.org" and parsed["Message-ID"]
    assert parsed["List-Unsubscribe"] == f"<{link}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(preferencelist=("html",)).get_content()
    assert "Lille et Londres sont à l&#x27;arrêt" in html


def build_raw(h: Harness) -> bytes:
    for c in h.cleanup:
        owner = getattr(c, "__self__", None)
        handler = getattr(owner, "handler", None)
        if isinstance(handler, SmtpSink):
            return handler.messages[-1]
    raise AssertionError("no SMTP sink")


def test_sms_sends_sender_and_status_callback() -> None:
    fake = FakeTwilio()
    try:
        client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url)
        TwilioSmsNotifier(
            client=client,
            sender="+15005550006",
            status_callback="https://ops.example.org/hooks/twilio/status",
        ).send(msg("+15555550105", body="hello"))
        via_service = TwilioSmsNotifier(client=client, messaging_service_sid="MG" + "1" * 32)
        via_service.send(msg("+15555550105", body="hello"))
        first, second = (r["form"] for r in fake.requests)
        assert first == {
            "To": "+15555550105",
            "From": "+15005550006",
            "Body": "hello",
            "StatusCallback": "https://ops.example.org/hooks/twilio/status",
        }
        assert second["MessagingServiceSid"] == "MG" + "1" * 32 and "From" not in second
    finally:
        fake.close()


def test_voice_reads_twice_and_gathers_a_keypress() -> None:
    fake = FakeTwilio()
    try:
        client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url)
        TwilioVoiceNotifier(
            client=client,
            sender="+15005550006",
            gather_url="https://ops.example.org/hooks/twilio/voice",
        ).send(msg("+15555550105", body="Incident 7 <tunnel> & Lille."))
        twiml = fake.requests[0]["form"]["Twiml"]
        assert twiml.count("<Say") == 2 and "&lt;tunnel&gt; &amp; Lille" in twiml
        assert (
            '<Gather numDigits="1" action="https://ops.example.org/hooks/twilio/voice'
            '?incident=7" method="POST"'
        ) in twiml
    finally:
        fake.close()


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (400, 21211, True),
        (400, 21610, True),
        (429, 20429, False),
        (400, 21611, False),
        (500, 30001, False),
        (503, 0, False),
        (401, 20003, True),
    ],
)
def test_twilio_errors_are_classified_by_status_and_code(
    status: int, code: int, permanent: bool
) -> None:
    fake = FakeTwilio()
    try:
        client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url)
        fake.fail_next(status, code)
        with pytest.raises(SendFailed) as info:
            TwilioSmsNotifier(client=client, sender="+15005550006").send(msg("+15555550105"))
        assert info.value.permanent is permanent
        # The core reads no Twilio code: the adapter says "unsubscribed" in neutral words.
        assert info.value.unsubscribed is (code == 21610)
    finally:
        fake.close()


def test_a_twilio_timeout_is_transient() -> None:
    fake = FakeTwilio()
    try:
        client = make_client(account_sid=ACCOUNT, auth_token=TOKEN, base_url=fake.url, timeout=0.5)
        fake.hang_next(2)
        with pytest.raises(SendFailed) as info:
            TwilioSmsNotifier(client=client, sender="+15005550006").send(msg("+15555550105"))
        assert info.value.permanent is False and info.value.provider_code == "unreachable"
    finally:
        fake.close()


def test_secrets_never_show_in_reprs() -> None:
    for n in (
        WebhookNotifier(secret="hunter2"),
        SocialNotifier(token="hunter2", profile="p"),
        EmailNotifier(host="h", port=25, sender="a@b", password="hunter2"),
    ):
        assert "hunter2" not in repr(n)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_email_over_starttls_verifies_the_servers_certificate(tls_files: tuple[Path, Path]) -> None:
    import ssl

    key, cert = tls_files
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    sink = SmtpSink()
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
    ctl.start()
    try:
        trusted = EmailNotifier(
            host="127.0.0.1",
            port=port,
            sender="ops@example.org",
            security="starttls",
            cafile=str(cert),
        )
        trusted.send(msg("dana@example.org"))
        assert len(sink.messages) == 1
        untrusted = EmailNotifier(
            host="127.0.0.1", port=port, sender="ops@example.org", security="starttls"
        )
        with pytest.raises(SendFailed) as info:
            untrusted.send(msg("dana@example.org"))
        assert not info.value.permanent and len(sink.messages) == 1
    finally:
        ctl.stop()


def test_twilio_statuses_become_neutral_receipt_stages() -> None:
    from notifiers.twilio_common import receipt_stage

    assert [receipt_stage(s) for s in ("queued", "sent", "delivered", "undelivered")] == [
        "accepted",
        "sent",
        "delivered",
        "failed",
    ]
    assert [receipt_stage(s) for s in ("no-answer", "busy", "completed", "weird")] == [
        "failed",
        "failed",
        "delivered",
        "other",
    ]
