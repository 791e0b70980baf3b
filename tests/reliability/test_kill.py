"""SIGKILL at random moments during a 2,000-recipient blast across two worker processes on
PostgreSQL, restart each one killed: everyone is reached, the outbox drains, and duplicates
stay within what the killed processes had in flight (their concurrency, per kill)."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from engine.app import Crisis
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import load_channels
from engine.store import Store
from tests.conftest import ADMIN, COMMS, OPERATOR, PLAYBOOKS
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_blast import CONCURRENCY, channels_file, open_rows, start

SEED = int(os.environ.get("CRISIS_KILL_SEED", str(int(time.time()))))


def blast(store: Store, chans: Path, recipients: int, body: str) -> None:
    channels = load_channels(chans)
    svc = Crisis(
        store=store,
        catalog=Catalog.load([PLAYBOOKS], channels=frozenset(channels)),
        clock=SystemClock(),
        channels=channels,
    )
    for i in range(recipients):
        svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone=f"+1555{i:07d}")
    iid = svc.incidents.declare(
        actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Blast"
    ).id
    u = svc.updates.draft_update(actor=OPERATOR, incident_id=iid, audience="passengers", body=body)
    svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)


def run(tmp_path: Path, store: Store, url: str, recipients: int, kills: int) -> None:
    rng = random.Random(SEED)
    fake = FakeTwilio()
    fake.delay = 0.01
    body = "All trains are held. Next update by 10:00 GMT."
    log = tmp_path / "workers.log"
    try:
        chans = channels_file(tmp_path, fake.url)
        blast(store, chans, recipients, body)
        workers = [start(url, chans, log), start(url, chans, log)]
        moments = sorted(rng.randrange(100, recipients - 300) for _ in range(kills))
        for moment in moments:
            deadline = time.monotonic() + 120
            while len(fake.requests) < moment and time.monotonic() < deadline:
                time.sleep(0.005)
            victim = rng.randrange(2)
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = start(url, chans, log)
        deadline = time.monotonic() + 180
        while open_rows(store) and time.monotonic() < deadline:
            for w in workers:
                assert w.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
        assert open_rows(store) == 0, "the outbox did not drain"
        sent = Counter(r["form"]["To"] for r in fake.requests if r["form"]["Body"] == body)
        duplicates = sum(n - 1 for n in sent.values())
        print(
            f"kill (seed {SEED}): {kills} SIGKILLs at requests {moments}; "
            f"{len(sent)} recipients reached, {duplicates} duplicate(s)"
        )
        assert len(sent) == recipients  # everyone, at least once
        assert duplicates <= kills * CONCURRENCY
    finally:
        fake.close()


def test_random_sigkills_during_a_blast_across_two_workers(
    tmp_path: Path, pg_store_url: tuple[Store, str]
) -> None:
    run(tmp_path, *pg_store_url, recipients=2000, kills=3)


@pytest.mark.heavy
def test_many_sigkills_during_a_big_blast(tmp_path: Path, pg_store_url: tuple[Store, str]) -> None:
    run(tmp_path, *pg_store_url, recipients=10000, kills=12)
