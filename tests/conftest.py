"""Shared fixtures: a fresh store per test on SQLite and (when configured) PostgreSQL.

Tests that need a tool a user may lack skip with a reason saying how to get it; with
CRISIS_TEST_STRICT=1 (set by .ci/run) every such skip is turned into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.app import Crisis
from engine.kernel.models import Actor
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel, load_channels
from engine.store import Store, make_engine

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = ROOT / "playbooks"
CHANNELS = ROOT / "config" / "channels.yaml"
STRICT = os.environ.get("CRISIS_TEST_STRICT") == "1"
POSTGRES_URL = os.environ.get("CRISIS_TEST_POSTGRES_URL")
NEED_POSTGRES = (
    "needs PostgreSQL: set CRISIS_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
)

OPERATOR = Actor("olu", "operator")
COMMS = Actor("cam", "comms_lead")
VIEWER = Actor("vic", "viewer")
ADMIN = Actor("ada", "admin")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"CRISIS_TEST_STRICT=1 forbids skips: {reason}"


def pg_schema_engine_url() -> str:
    if not POSTGRES_URL:
        pytest.skip(NEED_POSTGRES)
    return POSTGRES_URL


class PgSchema:
    """A throw-away schema on the test PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = "t_" + uuid.uuid4().hex[:12]
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
        admin.dispose()

    def store(self) -> Store:
        return Store(make_engine(self.url, connect_args={"options": f"-csearch_path={self.name}"}))

    @property
    def process_url(self) -> str:
        """The URL another process (crisis worker, the CLI) uses to reach this schema."""
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        admin = make_engine(self.url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        s = Store.from_url(f"sqlite:///{tmp_path / 'crisis.db'}")
        s.upgrade()
        yield s
        s.dispose()
        return
    schema = PgSchema(pg_schema_engine_url())
    s = schema.store()
    s.upgrade()
    try:
        yield s
    finally:
        s.dispose()
        schema.drop()


@pytest.fixture
def pg_store_url() -> Iterator[tuple[Store, str]]:
    """A migrated PostgreSQL schema: its store, and the URL other processes use for it."""
    schema = PgSchema(pg_schema_engine_url())
    store = schema.store()
    store.upgrade()
    try:
        yield store, schema.process_url
    finally:
        store.dispose()
        schema.drop()


@pytest.fixture
def channel_map() -> dict[str, Channel]:
    return load_channels(CHANNELS)


@pytest.fixture
def channels(channel_map: dict[str, Channel]) -> frozenset[str]:
    return frozenset(channel_map)


@pytest.fixture
def catalog(channels: frozenset[str]) -> Catalog:
    return Catalog.load([PLAYBOOKS], channels=channels)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(
    store: Store, catalog: Catalog, clock: FakeClock, channel_map: dict[str, Channel]
) -> Crisis:
    return Crisis(store=store, catalog=catalog, clock=clock, channels=channel_map)


TEST_ROSTER = """\
people:
  dana:
    name: Dana Duty
    phone: "+15555550105"
    email: dana@example.org
    timezone: Europe/London
    quiet_hours: "23:00-07:00"
  ed:    {name: Ed Director, phone: "+15555550106", email: ed@example.org}
  boss:  {name: Bo Boss, phone: "+15555550110", email: boss@example.org, role: admin}
  cam:   {name: Cam Comms, phone: "+15555550102", email: cam@example.org, role: comms_lead}
roles:
  duty-manager: {members: [dana]}
  ops-director: {members: [ed]}
  ceo-office: {members: [boss]}
  comms-lead: {members: [cam]}
  site-manager: {members: [dana]}
  regional-director: {members: [ed]}
"""


@pytest.fixture
def roster(service: Crisis) -> Crisis:
    """The service with a small, fixed roster loaded."""
    from engine.paging.rosterdb import parse_roster

    service.roster.load_roster(actor=ADMIN, seed=parse_roster(TEST_ROSTER, file="roster.yaml"))
    return service
