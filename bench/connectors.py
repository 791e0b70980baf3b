"""Declare → every connector confirmed: 100 scheduled items per platform, counterparts
answering in 100 ms.

For each counterpart (the sandbox platform with 100 ms added to every call, the stateful
loopback SendGrid, Klaviyo and Mailchimp with 100 ms per answer, mastodon-mock with a 100 ms
latency rule) it
schedules ``--items`` promos, creates a freeze on ``promo`` and times, on the real outbox
worker (8 threads, as ``crisis serve`` runs it), until the connector's run is confirmed:
every item found is paused. Prints p50/p99 over ``--runs`` and items paused per second.

    python bench/connectors.py [--items 100] [--runs 5] [--latency 0.1]
        [--platforms sandbox,sendgrid,mastodon,klaviyo,mailchimp]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.app import Crisis  # noqa: E402
from engine.calendar.rules import Scope  # noqa: E402
from engine.delivery.worker import Worker  # noqa: E402
from engine.kernel.models import Actor  # noqa: E402
from engine.kernel.ports import MarketingPlatform, SystemClock  # noqa: E402
from engine.playbooks.catalog import Catalog  # noqa: E402
from engine.playbooks.channels import parse_config  # noqa: E402
from engine.store import Store  # noqa: E402
from notifiers.marketing.base import ConnectorNotifier  # noqa: E402
from notifiers.marketing.sandbox import SandboxPlatform  # noqa: E402

COMMS = Actor("bench", "comms_lead")
CHANNELS = (ROOT / "config" / "channels.yaml").read_text().split("\n# Marketing platforms")[0]


class Slow:
    """A platform whose every call takes ``latency`` seconds more (a network away)."""

    def __init__(self, platform: Any, latency: float) -> None:
        self.platform, self.latency, self.name = platform, latency, platform.name

    def __getattr__(self, op: str) -> Callable[..., Any]:
        call = getattr(self.platform, op)

        def slow(*args: Any) -> Any:
            time.sleep(self.latency)
            return call(*args)

        return slow


@contextmanager
def sandbox(n: int, latency: float) -> Iterator[tuple[str, MarketingPlatform]]:
    p = SandboxPlatform("crm")
    at = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        p.schedule(f"s{i}", title=f"promo {i}", send_at=at + timedelta(minutes=i),
                   labels={"hashtag": ["promo"]})  # fmt: skip
    yield "sandbox", Slow(p, latency)


@contextmanager
def sendgrid(n: int, latency: float) -> Iterator[tuple[str, MarketingPlatform]]:
    from notifiers.marketing.sendgrid import SendGridPlatform
    from tests.fakes.http import serve
    from tests.fakes.sendgrid import KEY, FakeSendGrid

    fake = FakeSendGrid()
    at = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        fake.create(f"promo {i}", send_at=at + timedelta(minutes=i), categories=["promo"])
    fake.latency = latency
    with serve(fake.route) as url:
        yield "sendgrid", SendGridPlatform(api_key=KEY, host=url)


@contextmanager
def mastodon(n: int, latency: float) -> Iterator[tuple[str, MarketingPlatform]]:
    from mastodon_mock.testing import MockServer

    from notifiers.marketing.mastodon import MastodonPlatform

    server = MockServer().start()
    try:
        marketing = server.client("alice")
        at = datetime.now(UTC) + timedelta(days=1)
        for i in range(n):
            marketing.status_post(f"promo {i} #promo", scheduled_at=at + timedelta(minutes=i))
        rule = {"match": {"path_regex": "^/api/v1/scheduled"},
                "effect": {"type": "latency", "delay_ms": int(latency * 1000)}}  # fmt: skip
        req = urllib.request.Request(
            f"{server.base_url}/api/v1/_mock/faults", data=json.dumps(rule).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        urllib.request.urlopen(req, timeout=10).close()
        yield "mastodon", MastodonPlatform(base_url=server.base_url, access_token="alice_token")
    finally:
        server.stop()


@contextmanager
def klaviyo(n: int, latency: float) -> Iterator[tuple[str, MarketingPlatform]]:
    from notifiers.marketing.klaviyo import KlaviyoPlatform
    from tests.fakes.http import serve
    from tests.fakes.klaviyo import KEY, FakeKlaviyo

    fake = FakeKlaviyo()
    at = datetime.now(UTC) + timedelta(days=1)
    for i in range(n):
        fake.campaign(f"promo {i}", send_at=at + timedelta(minutes=i), tags=["promo"])

    def slow(*args: Any) -> Any:
        time.sleep(latency)
        return fake.route(*args)

    with serve(slow) as url:
        yield "klaviyo", KlaviyoPlatform(api_key=KEY, host=url)


@contextmanager
def mailchimp(n: int, latency: float) -> Iterator[tuple[str, MarketingPlatform]]:
    from notifiers.marketing.mailchimp import MailchimpPlatform
    from tests.fakes.http import serve
    from tests.fakes.mailchimp import KEY, FakeMailchimp

    fake = FakeMailchimp()
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for i in range(n):
        fake.campaign(f"promo {i}", send_at=at + timedelta(minutes=15 * i), list_id="promo")

    def slow(*args: Any) -> Any:
        time.sleep(latency)
        return fake.route(*args)

    with serve(slow) as url:
        yield "mailchimp", MailchimpPlatform(api_key=KEY, server="us1", host=f"{url}/3.0")


COUNTERPARTS = {
    "sandbox": sandbox,
    "sendgrid": sendgrid,
    "mastodon": mastodon,
    "klaviyo": klaviyo,
    "mailchimp": mailchimp,
}
KINDS = {name: name for name in COUNTERPARTS}


def one_run(name: str, n: int, latency: float, tmp: Path) -> float:
    config = CHANNELS + (
        f"\nconnectors:\n  {name}x:\n    kind: {KINDS[name]}\n    channel: newsletter\n"
        "    tags: {promo: {hashtag: [promo], category: [promo], tag: [promo], list: [promo]}}\n"
        + ("    options: {base_url: http://x}\n    credentials: {access_token: T}\n"
           if name == "mastodon" else "")
        + ("    options: {server: us1}\n" if name == "mailchimp" else "")
        + ("    credentials: {api_key: K}\n" if name in ("sendgrid", "klaviyo", "mailchimp")
           else "")
    )  # fmt: skip
    channels, connectors = parse_config(config, file="channels.yaml")
    store = Store.from_url(f"sqlite:///{tmp / f'{name}-{time.monotonic_ns()}.db'}")
    store.upgrade()
    catalog = Catalog.load([ROOT / "playbooks"], channels=frozenset(channels))
    with COUNTERPARTS[name](n, latency) as (_, platform):
        crisis = Crisis(store=store, catalog=catalog, clock=SystemClock(), channels=channels,
                        connectors=connectors)  # fmt: skip
        worker = Worker(
            store=store, owners=crisis.owners, clock=crisis.clock, concurrency=8,
            notifiers={f"{name}x": ConnectorNotifier(platform)},
            media={f"{name}x": "connector"},
        )  # fmt: skip
        worker.start()
        try:
            t0 = time.perf_counter()
            f = crisis.calendar.create_freeze(actor=COMMS, scope=Scope(tags=("promo",)),
                                              reason="bench")  # fmt: skip
            worker.poke()
            while True:
                (run,) = crisis.calendar.get_freeze(freeze_id=f["id"])["connectors"]
                if run["confirmed_at"] is not None:
                    elapsed = time.perf_counter() - t0
                    break
                if time.perf_counter() - t0 > 300:
                    raise SystemExit(f"{name}: not confirmed after 300 s: {run['text']}")
                time.sleep(0.01)
            assert run["items"] == {"paused": n}, run
        finally:
            worker.stop()
            store.dispose()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--platforms", default=",".join(COUNTERPARTS))
    args = ap.parse_args()
    print(f"freeze → connector confirmed: {args.items} items, {args.latency * 1000:.0f} ms a call, "
          f"{args.runs} runs, outbox worker with 8 threads, SQLite")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.platforms.split(","):
            times = sorted(
                one_run(name, args.items, args.latency, Path(tmp)) for _ in range(args.runs)
            )
            p50 = statistics.median(times)
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            print(f"{name:<9} p50 {p50:7.2f} s  p99 {p99:7.2f} s  "
                  f"{args.items / p50:6.1f} items paused/s  (min {times[0]:.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
