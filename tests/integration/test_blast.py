"""SIGKILL a worker mid-blast of 2,000 SMS, restart it: everyone gets the update, at least
once, and no more duplicates than the worker's concurrency (the sends it had in flight)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.keys import DEVELOPMENT_SECRET
from engine.kernel.ports import SystemClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import load_channels
from engine.schema import deliveries
from engine.store import Store
from tests.conftest import ADMIN, COMMS, OPERATOR, PLAYBOOKS, ROOT
from tests.fakes.twilio import ACCOUNT, TOKEN, FakeTwilio

RECIPIENTS = 2000
CONCURRENCY = 8


def channels_file(tmp: Path, fake_url: str) -> Path:
    text = (
        (ROOT / "config" / "channels.yaml")
        .read_text()
        .replace(
            '  sms:         {kind: sandbox, medium: sms, sender: "+15005550006"}',
            '  sms: {kind: twilio_sms, sender: "+15005550006", options: {base_url: "'
            + fake_url
            + '"}, credentials: {account_sid: FAKE_TWILIO_SID, '
            "auth_token: FAKE_TWILIO_TOKEN}}",
        )
    )
    assert "twilio_sms" in text
    path = tmp / "channels.yaml"
    path.write_text(text)
    return path


def start(url: str, channels: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISIS_")}
    env.update(
        CRISIS_DATABASE_URL=url,
        CRISIS_SECRET_KEY=DEVELOPMENT_SECRET,
        CRISIS_CHANNELS=str(channels),
        PYTHONUNBUFFERED="1",
        CRISIS_OUTBOX_LEASE_SECONDS="3",
        FAKE_TWILIO_SID=ACCOUNT,
        FAKE_TWILIO_TOKEN=TOKEN,
        NO_PROXY="127.0.0.1",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "web", "worker", "--concurrency", str(CONCURRENCY)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def open_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(deliveries.c.status.in_(["pending", "sending"]))
            ).scalar_one()
        )


def test_sigkill_mid_blast_then_restart_delivers_to_everyone(tmp_path: Path) -> None:
    fake = FakeTwilio()
    fake.delay = 0.01
    try:
        chans = channels_file(tmp_path, fake.url)
        url = f"sqlite:///{tmp_path / 'blast.db'}"
        store = Store.from_url(url)
        store.upgrade()
        channels = load_channels(chans)
        svc = Crisis(
            store=store,
            catalog=Catalog.load([PLAYBOOKS], channels=frozenset(channels)),
            clock=SystemClock(),
            channels=channels,
        )
        for i in range(RECIPIENTS):
            svc.audience.add_subscriber(actor=ADMIN, audience="passengers", phone=f"+1555{i:07d}")
        iid = svc.incidents.declare(
            actor=OPERATOR, playbook="rail-disruption", severity="sev2", title="Blast", regions=[]
        ).id
        u = svc.updates.draft_update(
            actor=OPERATOR,
            incident_id=iid,
            audience="passengers",
            body="All trains are held. Next update by 10:00 GMT.",
        )
        svc.updates.approve_update(actor=COMMS, update_id=u["id"], revision=1)
        log = tmp_path / "worker.log"
        worker = start(url, chans, log)
        deadline = time.monotonic() + 60
        while len(fake.requests) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        at_kill = len(fake.requests)
        assert 0 < at_kill < RECIPIENTS, f"kill should land mid-blast ({at_kill} sent)"
        restarted = start(url, chans, log)
        try:
            deadline = time.monotonic() + 120
            while open_rows(store) and time.monotonic() < deadline:
                assert restarted.poll() is None, log.read_text()[-2000:]
                time.sleep(0.2)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=30)
        assert open_rows(store) == 0
        sent = Counter(
            r["form"]["To"]
            for r in fake.requests
            if r["form"]["Body"].startswith("All trains are held")
        )
        assert len(sent) == RECIPIENTS  # everyone, at least once
        duplicates = sum(n - 1 for n in sent.values())
        print(f"blast: {at_kill} requests before SIGKILL, {duplicates} duplicate(s) after restart")
        assert duplicates <= CONCURRENCY, f"{duplicates} duplicates"
        store.dispose()
    finally:
        fake.close()
