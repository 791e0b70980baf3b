"""The MarketingPlatform contract, run against every counterpart: the sandbox platform (the
port's fake) and each real adapter against its stateful counterpart (SendGrid's loopback
fake; Mastodon's mastodon-mock). What the engine relies on holds for all of them."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.kernel.errors import SendFailed
from engine.kernel.ports import ExternalItem, MarketingPlatform
from notifiers.marketing.sandbox import SandboxPlatform
from notifiers.marketing.sendgrid import SendGridPlatform
from tests.fakes.http import serve
from tests.fakes.sendgrid import KEY, FakeSendGrid

# How long an adapter waits here, and how late a "slow" answer comes: generous, since a busy
# CI machine must not turn an ordinary answer into a timeout (the round trips reuse these).
TIMEOUT = 3.0
SLOW = 4.5


@dataclass
class Counterpart:
    platform: MarketingPlatform
    schedule: Callable[[str, datetime], str]  # title, send_at → the item's ref
    edit: Callable[[str], None] | None  # None: the platform's API cannot edit one
    delete: Callable[[str], None]
    fail: Callable[[int], None]  # the next call answers this HTTP status
    label: tuple[str, str]  # a label kind and value every scheduled item carries
    slow: Callable[[], None]  # the next call takes longer than the adapter waits (TIMEOUT)


def delayed(route: Any, delays: list[float]) -> Any:
    """``route``, answering the next request late when a delay is queued."""

    def answer(*args: Any) -> Any:
        if delays:
            time.sleep(delays.pop(0))
        return route(*args)

    return answer


def sandbox() -> Iterator[Counterpart]:
    p = SandboxPlatform("sandbox")

    def schedule(title: str, when: datetime) -> str:
        p.schedule(title, title=title, send_at=when, labels={"category": ["promo"]})
        return title

    def slow() -> None:  # in memory nothing is slow: the adapter's answer to a timeout
        p.fail_next(
            SendFailed("sandbox unreachable: timed out", permanent=False, code="unreachable")
        )

    yield Counterpart(
        p, schedule, lambda r: p.edit(r, body="changed"), p.delete, lambda s: p.fail_next(s),
        ("category", "promo"), slow,
    )  # fmt: skip


def sendgrid() -> Iterator[Counterpart]:
    fake = FakeSendGrid()
    delays: list[float] = []
    with serve(delayed(fake.route, delays)) as url:
        p = SendGridPlatform(api_key=KEY, host=url, timeout=TIMEOUT)

        def schedule(title: str, when: datetime) -> str:
            return "singlesend:" + fake.create(title, send_at=when, categories=["promo"])

        def sid(ref: str) -> str:
            return ref.removeprefix("singlesend:")

        yield Counterpart(
            p, schedule, lambda r: fake.edit(sid(r), subject="changed"),
            lambda r: fake.delete(sid(r)), lambda s: fake.fail_next(s), ("category", "promo"),
            lambda: delays.append(SLOW),
        )  # fmt: skip


def mastodon() -> Iterator[Counterpart]:
    from mastodon_mock.testing import MockServer

    from notifiers.marketing.mastodon import MastodonPlatform

    server = MockServer().start()
    try:
        marketing = server.client("alice")  # marketing's own tool, same account
        p = MastodonPlatform(base_url=server.base_url, access_token="alice_token", timeout=TIMEOUT)

        def schedule(title: str, when: datetime) -> str:
            return f"status:{marketing.status_post(f'{title} #promo', scheduled_at=when)['id']}"

        def fail(status: int) -> None:  # the mock's own fault control plane
            fault({"match": {}, "effect": {"type": "status", "status": status}, "count": 1})

        def slow() -> None:
            fault(
                {
                    "match": {},
                    "effect": {"type": "latency", "delay_ms": int(SLOW * 1000)},
                    "count": 1,
                }
            )

        def fault(rule: dict[str, Any]) -> None:
            req = urllib.request.Request(
                f"{server.base_url}/api/v1/_mock/faults",
                data=json.dumps(rule).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(req, timeout=10).close()

        yield Counterpart(
            p, schedule, None, lambda r: marketing.scheduled_status_delete(r.split(":")[1]),
            fail, ("hashtag", "promo"), slow,
        )  # fmt: skip
    finally:
        server.stop()


def klaviyo() -> Iterator[Counterpart]:
    from notifiers.marketing.klaviyo import KlaviyoPlatform
    from tests.fakes.klaviyo import KEY as KLAVIYO_KEY
    from tests.fakes.klaviyo import FakeKlaviyo

    fake = FakeKlaviyo()
    faults: list[int] = []

    delays: list[float] = []

    def route(*args: Any) -> Any:  # a fault injected in front of the fake
        if faults:
            status = faults.pop(0)
            return status, {"errors": [{"detail": f"fault {status}"}]}, {}
        return fake.route(*args)

    with serve(delayed(route, delays)) as url:
        p = KlaviyoPlatform(api_key=KLAVIYO_KEY, host=url, timeout=TIMEOUT)

        def schedule(title: str, when: datetime) -> str:
            return "campaign:" + fake.campaign(title, send_at=when, tags=["promo"])

        def sid(ref: str) -> str:
            return ref.partition(":")[2]

        yield Counterpart(
            p, schedule, lambda r: fake.rename(sid(r), "changed"), lambda r: fake.delete(sid(r)),
            faults.append, ("tag", "promo"), lambda: delays.append(SLOW),
        )  # fmt: skip


def mailchimp() -> Iterator[Counterpart]:
    from notifiers.marketing.mailchimp import MailchimpPlatform
    from tests.fakes.mailchimp import KEY as MAILCHIMP_KEY
    from tests.fakes.mailchimp import FakeMailchimp

    fake = FakeMailchimp()
    faults: list[int] = []

    delays: list[float] = []

    def route(*args: Any) -> Any:
        if faults:
            status = faults.pop(0)
            return status, {"title": f"fault {status}", "status": status}, {}
        return fake.route(*args)

    with serve(delayed(route, delays)) as url:
        p = MailchimpPlatform(
            api_key=MAILCHIMP_KEY, server="us1", host=f"{url}/3.0", timeout=TIMEOUT
        )

        def schedule(title: str, when: datetime) -> str:
            return "campaign:" + fake.campaign(title, send_at=when, list_id="promo-list")

        def sid(ref: str) -> str:
            return ref.partition(":")[2]

        yield Counterpart(
            p, schedule, lambda r: fake.retitle(sid(r), "changed"), lambda r: fake.delete(sid(r)),
            faults.append, ("list", "promo-list"), lambda: delays.append(SLOW),
        )  # fmt: skip


COUNTERPARTS = {
    "mailchimp": mailchimp,
    "sandbox": sandbox,
    "sendgrid": sendgrid,
    "mastodon": mastodon,
    "klaviyo": klaviyo,
}


@pytest.fixture(params=sorted(COUNTERPARTS))
def cp(request: pytest.FixtureRequest) -> Iterator[Counterpart]:
    yield from COUNTERPARTS[request.param]()


# Mastodon's API edits no scheduled status (an edit there is a delete and a new one): its
# edit case is not a case at all, and the other tests cover its deletion.
EDITABLE = sorted(k for k in COUNTERPARTS if k != "mastodon")


@pytest.fixture(params=EDITABLE)
def editable(request: pytest.FixtureRequest) -> Iterator[Counterpart]:
    yield from COUNTERPARTS[request.param]()


def find(items: list[ExternalItem], ref: str) -> ExternalItem:
    (item,) = [i for i in items if i.ref == ref]
    return item


WHEN = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
    days=2
)  # a quarter-hour


def test_scheduled_items_are_listed_with_time_labels_and_a_fingerprint(cp: Counterpart) -> None:
    ref = cp.schedule("Winter sale", WHEN)
    item = find(cp.platform.scheduled(), ref)
    assert item.active and item.send_at == WHEN and item.title.startswith("Winter sale")
    kind, value = cp.label
    assert value in item.labels[kind] and item.fingerprint


def test_pause_takes_it_out_of_the_schedule_keeps_its_fingerprint_and_is_idempotent(
    cp: Counterpart,
) -> None:
    ref = cp.schedule("Winter sale", WHEN)
    item = find(cp.platform.scheduled(), ref)
    cp.platform.pause(item)
    assert ref not in [i.ref for i in cp.platform.scheduled()]
    seen = cp.platform.look(item)
    assert seen is not None and not seen.active and seen.fingerprint == item.fingerprint
    cp.platform.pause(item)  # repeated after a crash: still paused, no error


def test_restore_puts_it_back_at_its_own_time(cp: Counterpart) -> None:
    ref = cp.schedule("Winter sale", WHEN)
    item = find(cp.platform.scheduled(), ref)
    cp.platform.pause(item)
    cp.platform.restore(item)
    back = find(cp.platform.scheduled(), ref)
    assert back.active and back.send_at == WHEN and back.fingerprint == item.fingerprint


def test_a_deleted_item_is_none(cp: Counterpart) -> None:
    ref = cp.schedule("Winter sale", WHEN)
    item = find(cp.platform.scheduled(), ref)
    cp.delete(ref)
    assert cp.platform.look(item) is None


def test_an_edit_changes_the_fingerprint_and_a_deleted_item_is_none(
    editable: Counterpart,
) -> None:
    cp = editable
    ref = cp.schedule("Winter sale", WHEN)
    item = find(cp.platform.scheduled(), ref)
    cp.platform.pause(item)
    assert cp.edit is not None
    cp.edit(ref)
    seen = cp.platform.look(item)
    assert seen is not None and seen.fingerprint != item.fingerprint
    cp.delete(ref)
    assert cp.platform.look(item) is None


@pytest.mark.parametrize(
    ("status", "permanent"), [(401, False), (429, False), (503, False), (400, True)]
)
def test_failures_are_classified_for_the_outbox(
    cp: Counterpart, status: int, permanent: bool
) -> None:
    cp.fail(status)
    with pytest.raises(SendFailed) as err:
        cp.platform.scheduled()
    assert err.value.permanent is permanent and err.value.provider_code == str(status)


def test_a_platform_slower_than_the_adapter_waits_is_a_transient_failure(cp: Counterpart) -> None:
    cp.slow()
    with pytest.raises(SendFailed) as err:
        cp.platform.scheduled()
    assert not err.value.permanent and err.value.provider_code == "unreachable"
    assert cp.platform.scheduled() is not None  # and the next call works
