"""Self-service subscriptions from the status page: double opt-in by email, YES by SMS, STOP."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator

from engine.app import Crisis
from engine.delivery.outbox import claim
from engine.kernel.ports import FakeClock
from engine.schema import deliveries, subscribers
from tests.conftest import ADMIN, COMMS, OPERATOR
from tests.integration.test_public import deliver
from web import create_app
from web.config import Config, Secret

TWILIO_TOKEN = "subscription-test-token"


@pytest.fixture
def app(service: Crisis, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=service, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def subscribe(client: FlaskClient, **form: str) -> Any:
    page = client.get("/status/subscribe").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    return client.post("/status/subscribe", data=form | {"csrf_token": csrf.group(1)})


def sent_to(service: Crisis, address: str) -> list[Any]:
    with service.store.engine.connect() as conn:
        return conn.execute(
            sa.select(deliveries).where(deliveries.c.address == address).order_by(deliveries.c.id)
        ).all()


def publish(service: Crisis, clock: FakeClock, region: str = "lille", *, send: bool = True) -> int:
    iid = service.incidents.declare(
        actor=OPERATOR,
        playbook="rail-disruption",
        severity="sev2",
        title="Delays",
        regions=[region],
    ).id
    u = service.updates.draft_update(
        actor=OPERATOR,
        incident_id=iid,
        audience="passengers",
        body="Trains are delayed. Next update by 10:00 GMT.",
    )
    service.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
    if send:
        deliver(service, clock)
    return int(u["id"])


def test_email_double_opt_in_then_one_click_unsubscribe(
    client: FlaskClient, service: Crisis, clock: FakeClock
) -> None:
    resp = subscribe(client, via="email", email="ann@example.org", region="lille")
    assert resp.status_code == 303
    [confirmation] = sent_to(service, "ann@example.org")
    assert confirmation.channel == "email" and confirmation.kind == "notice"
    link = re.search(
        r"http://127.0.0.1:8080(/status/subscribe/confirm\?token=\S+)", confirmation.body
    )
    assert link, confirmation.body
    # Not confirmed yet: an update does not reach her.
    publish(service, clock)
    assert len(sent_to(service, "ann@example.org")) == 1
    # The link shows a button (a mail scanner's GET confirms nothing) ...
    page = client.get(link.group(1))
    assert page.status_code == 200 and "Yes, send me" in page.get_data(as_text=True)
    with service.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.confirmed_at)).scalar_one() is None
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf
    token = link.group(1).split("token=")[1]
    done = client.post(
        "/status/subscribe/confirm", data={"token": token, "csrf_token": csrf.group(1)}
    )
    # ... the POST does, and lands on a page that says so (not on the form again).
    assert done.status_code == 200
    said = done.get_data(as_text=True)
    assert "You are subscribed" in said and "unsubscribe in one click" in said
    assert 'name="email"' not in said
    # The link works once.
    again = client.post(
        "/status/subscribe/confirm", data={"token": token, "csrf_token": csrf.group(1)}
    )
    assert again.status_code == 404
    publish(service, clock, send=False)
    update = sent_to(service, "ann@example.org")[-1]
    assert update.kind == "update" and update.body.startswith("Trains are delayed")
    # Issue 13.11: the capability is not stored; it is made when the email is handed over.
    assert "unsubscribe_token" not in update.meta
    with service.store.engine.connect() as conn:
        assert conn.execute(sa.select(subscribers.c.manage_token)).scalar_one() is None
    media = {n: c.medium for n, c in service.channels.items()}
    [handed] = [
        c.message
        for c in claim(
            service.store, now=clock.now(), limit=100, media=media, owners=service.owners
        )
        if c.message.delivery_id == update.id
    ]
    manage = handed.meta["unsubscribe_token"]
    forged = manage.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAA"
    assert client.application.test_client().post(f"/status/unsubscribe/{forged}").status_code == 404
    # RFC 8058 one-click: a mail client POSTs with no session and no CSRF token.
    fresh = client.application.test_client()
    out = fresh.post(f"/status/unsubscribe/{manage}", data={"List-Unsubscribe": "One-Click"})
    assert out.status_code == 200 and "Unsubscribed" in out.get_data(as_text=True)
    publish(service, clock)
    assert sent_to(service, "ann@example.org")[-1].id == update.id


def signed_sms(client: FlaskClient, form: dict[str, str]) -> Any:
    url = "http://localhost/hooks/twilio/sms"
    form = {"MessageSid": f"SM{uuid.uuid4().hex}"} | form
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    return client.post("/hooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})


def test_sms_is_confirmed_by_replying_yes_and_stopped_by_stop(
    client: FlaskClient, service: Crisis, clock: FakeClock
) -> None:
    phone = "+447700900123"
    assert subscribe(client, via="sms", phone="+44 7700 900123").status_code == 303
    [confirmation] = sent_to(service, phone)
    assert "reply YES" in confirmation.body and confirmation.channel == "sms"
    publish(service, clock)
    assert len(sent_to(service, phone)) == 1  # unconfirmed: nothing
    reply = signed_sms(client, {"From": phone, "Body": "yes"})
    assert "again" in reply.get_data(as_text=True)
    publish(service, clock)
    assert sent_to(service, phone)[-1].kind == "update"
    signed_sms(client, {"From": phone, "Body": "STOP"})
    count = len(sent_to(service, phone))
    publish(service, clock)
    assert len(sent_to(service, phone)) == count


def test_bad_input_is_shown_and_nothing_is_stored(client: FlaskClient, service: Crisis) -> None:
    resp = subscribe(client, via="email", email="not-an-address", region="lille")
    assert resp.status_code == 422
    assert "does not look like an email address" in resp.get_data(as_text=True)
    resp = subscribe(client, via="sms", phone="07700 900123")
    assert resp.status_code == 422 and "international form" in resp.get_data(as_text=True)
    resp = subscribe(client, via="email", email="a@example.org", region="atlantis")
    assert resp.status_code == 422
    assert service.audience.list_subscribers() == []


def test_asking_twice_sends_one_confirmation_and_floods_are_refused(
    client: FlaskClient, service: Crisis
) -> None:
    subscribe(client, via="email", email="bob@example.org")
    subscribe(client, via="email", email="bob@example.org")
    assert len(sent_to(service, "bob@example.org")) == 1
    codes = [
        subscribe(client, via="email", email=f"x{i}@example.org").status_code for i in range(4)
    ]
    assert codes == [303, 303, 303, 429]  # five requests per address per ten minutes


def test_subscribe_form_without_csrf_is_refused(client: FlaskClient) -> None:
    resp = client.post("/status/subscribe", data={"via": "email", "email": "c@example.org"})
    assert resp.status_code == 403


def test_behind_a_proxy_the_limit_is_per_visitor(service: Crisis) -> None:
    """With CRISIS_PROXIES=1 the limit counts X-Forwarded-For, not the proxy's own address."""
    app = create_app(
        Config(database_url="sqlite://", secret_key=Secret("k"), proxies=1),
        crisis=service,
        test_config={"TESTING": True},
    )
    for visitor in ("203.0.113.7", "198.51.100.9"):
        client = app.test_client()
        codes = []
        for i in range(6):
            page = client.get("/status/subscribe", headers={"X-Forwarded-For": visitor})
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
            assert csrf
            codes.append(
                client.post(
                    "/status/subscribe",
                    data={
                        "via": "email",
                        "email": f"v{i}@example.org",
                        "csrf_token": csrf.group(1),
                    },
                    headers={"X-Forwarded-For": visitor},
                ).status_code
            )
        assert codes == [303] * 5 + [429], visitor


def test_a_forged_host_is_refused_and_links_use_the_configured_url(
    client: FlaskClient, service: Crisis
) -> None:
    """Issue 13.9: with CRISIS_PUBLIC_URL unset a forged Host used to go into the link."""
    forged = client.post(
        "/status/subscribe",
        data={"via": "email", "email": "eve@example.org"},
        headers={"Host": "evil.example"},
    )
    assert forged.status_code == 400
    assert sent_to(service, "eve@example.org") == []
    subscribe(client, via="email", email="eve@example.org")
    [mail] = sent_to(service, "eve@example.org")
    assert "evil.example" not in mail.body and "http://127.0.0.1:8080/status/" in mail.body


def test_the_subscribe_page_answers_the_same_whether_or_not_someone_is_subscribed(
    client: FlaskClient, service: Crisis
) -> None:
    """Issue 13.11: "already subscribed" told anyone who was on the list."""
    service.audience.add_subscriber(actor=ADMIN, audience="passengers", email="known@example.org")
    answers = []
    for email in ("known@example.org", "new@example.org"):
        subscribe(client, via="email", email=email)
        answers.append(client.get("/status/subscribe").get_data(as_text=True))
    flashes = [re.findall(r'class="flash[^"]*"[^>]*>([^<]+)<', a) for a in answers]
    assert flashes[0] == flashes[1] and flashes[0]


def test_an_unsubscribe_link_sent_before_the_upgrade_still_works(
    client: FlaskClient, service: Crisis
) -> None:
    """Old links keep working through the SHA-256 digest migration 0008 stored."""
    import hashlib

    sid = service.audience.add_subscriber(
        actor=ADMIN, audience="passengers", email="old@example.org"
    )
    legacy = "a-token-from-an-email-sent-last-year"
    with service.store.transaction() as conn:
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == sid)
            .values(manage_token=hashlib.sha256(legacy.encode()).hexdigest())
        )
    assert client.post(f"/status/unsubscribe/{legacy}").status_code == 200
    with service.store.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(subscribers.c.opted_in).where(subscribers.c.id == sid)
            ).scalar_one()
            is False
        )


def test_sms_pumping_is_refused(client: FlaskClient, service: Crisis) -> None:
    """Issue 13.8: bots sent confirmation texts to international premium-rate numbers."""
    resp = subscribe(client, via="sms", phone="+881 6 1234 5678")  # outside +44, +33, +32
    assert resp.status_code == 422 and "+44, +33, +32 only" in resp.get_data(as_text=True)
    assert sent_to(service, "+881612345678") == []


def test_one_confirmation_per_number_across_regions_and_one_per_mailbox(
    app: Flask, service: Crisis
) -> None:
    """Issue 13.8: one number got six texts at once (one per region); case variants of one
    email each got one. Each visitor below comes from its own address."""
    for i, region in enumerate(["lille", "calais", "paris", "london", "brussels", ""]):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"192.0.2.{i + 1}"
        assert subscribe(c, via="sms", phone="+33 6 12 34 56 78", region=region).status_code == 303
    assert len(sent_to(service, "+33612345678")) == 1
    for i, email in enumerate(["Ann@Example.org", "ann@example.ORG", " ANN@example.org "]):
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        subscribe(c, via="email", email=email, region="lille")
    assert len(sent_to(service, "ann@example.org")) == 1
    assert {s["email"] for s in service.audience.list_subscribers() if s["email"]} == {
        "ann@example.org"
    }
    # The one YES confirms every region the number asked for.
    signed_sms(app.test_client(), {"From": "+33612345678", "Body": "YES"})
    mine = [s for s in service.audience.list_subscribers() if s["phone"] == "+33612345678"]
    assert len(mine) == 6 and all(s["confirmed_at"] for s in mine)


def test_global_caps_hold_across_processes(
    store: Any, catalog: Any, channel_map: Any, clock: FakeClock
) -> None:
    """Issue 13.8: the limits are counted in the database, so two processes share them."""
    from engine.audience.subscriptions import Policy
    from engine.kernel.errors import RateLimited

    policy = Policy(sms_countries=("+44",), sms_per_hour=3, per_client=100)
    one = Crisis(store=store, catalog=catalog, clock=clock, channels=channel_map)
    two = Crisis(store=store, catalog=catalog, clock=clock, channels=channel_map)

    def ask(svc: Crisis, n: int, *, via: str = "sms", client: str = "", **kw: Any) -> Any:
        return svc.audience.request_subscription(
            audience="passengers",
            email=f"x{n}@example.org" if via == "email" else None,
            phone=f"+4477009001{n:02d}" if via == "sms" else None,
            region=None,
            regions=(),
            channel=via,
            message=lambda p: ("subject", "reply YES"),
            client=client or f"203.0.113.{n}",
            policy=kw.get("policy", policy),
        )

    ask(one, 1)
    ask(two, 2)
    ask(one, 3)
    with pytest.raises(RateLimited):  # the fourth text this hour, whichever process asks
        ask(two, 4)
    tight = Policy(sms_countries=("+44",), per_client=2)
    ask(one, 5, via="email", client="the-same-bot", policy=tight)
    ask(two, 6, via="email", client="the-same-bot", policy=tight)
    with pytest.raises(RateLimited):  # the bot's third request, counted across processes
        ask(one, 7, via="email", client="the-same-bot", policy=tight)


def test_the_admin_sees_the_counters(app: Flask, service: Crisis) -> None:
    service.accounts.add_user(actor=ADMIN, username="root", role="admin", password="root-password")
    subscribe(app.test_client(), via="email", email="seen@example.org")
    admin = app.test_client()
    page = admin.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    admin.post(
        "/login",
        data={"username": "root", "password": "root-password", "csrf_token": token.group(1)},
    )
    limits = admin.get("/admin/limits").get_data(as_text=True)
    assert 'id="confirm-email">1<' in limits and "Subscription requests from one address" in limits


def test_an_admin_added_subscriber_passes_the_same_checks(service: Crisis) -> None:
    """Issue 21: add_subscriber skipped the checks a status-page subscription runs."""
    from engine.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as bad:
        service.audience.add_subscriber(actor=ADMIN, audience="passengers", phone="07700 900123")
    assert "phone" in bad.value.details
    with pytest.raises(ValidationFailed):
        service.audience.add_subscriber(actor=ADMIN, audience="passengers", email="nobody")
    sid = service.audience.add_subscriber(
        actor=ADMIN, audience="passengers", email=" Bo@Example.org "
    )
    [row] = [s for s in service.audience.list_subscribers() if s["id"] == sid]
    assert row["email"] == "bo@example.org"
