"""PostgreSQL restarted mid-blast by the test: the worker process and this process reconnect
and carry on; everyone is reached and the outbox drains.

Restarts the machine's PostgreSQL cluster (pg_ctlcluster), so it needs to run as a user who may
do that (root or postgres), as CI does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.store import Store
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_blast import channels_file, open_rows, start
from tests.reliability.test_kill import blast

HOW = "needs pg_ctlcluster and the right to restart the cluster (run as root, as .ci/run does)"


def restart_postgres() -> float:
    """Restart the local cluster; return how long the database was away (seconds)."""
    ctl = shutil.which("pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if ctl is None or not versions or os.geteuid() != 0:
        pytest.skip(HOW)
    began = time.monotonic()
    subprocess.run(
        [ctl, "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
        time.sleep(0.2)
    return time.monotonic() - began


def test_a_postgres_restart_mid_blast(tmp_path: Path, pg_store_url: tuple[Store, str]) -> None:
    store, url = pg_store_url
    fake = FakeTwilio()
    fake.delay = 0.01
    body = "Trains are held. Next update by 11:00 GMT."
    log = tmp_path / "worker.log"
    try:
        chans = channels_file(tmp_path, fake.url)
        blast(store, chans, 2000, body)
        worker = start(url, chans, log)
        deadline = time.monotonic() + 60
        while len(fake.requests) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        away = restart_postgres()
        at_restart = len(fake.requests)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            try:
                if not open_rows(store):  # this process's pool reconnects too
                    break
            except sa.exc.OperationalError:
                pass
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        assert open_rows(store) == 0, log.read_text()[-3000:]
        sent = Counter(r["form"]["To"] for r in fake.requests if r["form"]["Body"] == body)
        duplicates = sum(n - 1 for n in sent.values())
        print(
            f"pg restart: database away {away:.1f} s after {at_restart} requests; "
            f"{len(sent)} reached, {duplicates} duplicate(s)"
        )
        assert len(sent) == 2000 and at_restart < 2000
        assert "could not reach the database" in log.read_text()  # it noticed, and carried on
    finally:
        fake.close()
