"""Fixtures for the web app's tests: a store with one user per role, the app, their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.service import Service
from engine.store import Store
from web import create_app
from web.config import Config, Secret


@pytest.fixture
def svc(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[Service]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'web.db'}")
    store.upgrade()
    s = Service(store=store, catalog=catalog, clock=FakeClock(), channels=channel_map)
    for username, role in [
        ("viewer", "viewer"),
        ("operator", "operator"),
        ("comms", "comms_lead"),
        ("marketer", "marketer"),
        ("admin", "admin"),
        ("robot", "automation"),
    ]:
        s.add_user(
            username=username,
            role=role,
            password=f"{username}-password" if role != "automation" else None,
        )
    yield s
    store.dispose()


@pytest.fixture
def app(svc: Service) -> Flask:
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, service=svc, test_config={"TESTING": True})


@pytest.fixture
def tokens(svc: Service) -> dict[str, str]:
    return {
        u.username: svc.create_token(username=u.username, name="t")[1] for u in svc.list_users()
    }
