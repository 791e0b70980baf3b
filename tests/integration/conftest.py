"""Fixtures for the web app's tests: a store with one user per role, the app, their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from engine.app import Crisis
from engine.kernel.ports import FakeClock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import Channel
from engine.store import Store
from tests.conftest import ADMIN
from web import create_app
from web.config import Config, Secret


@pytest.fixture
def svc(tmp_path: Path, catalog: Catalog, channel_map: dict[str, Channel]) -> Iterator[Crisis]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'web.db'}")
    store.upgrade()
    s = Crisis(store=store, catalog=catalog, clock=FakeClock(), channels=channel_map)
    for username, role in [
        ("viewer", "viewer"),
        ("operator", "operator"),
        ("comms", "comms_lead"),
        ("marketer", "marketer"),
        ("admin", "admin"),
        ("robot", "automation"),
    ]:
        s.accounts.add_user(
            actor=ADMIN,
            username=username,
            role=role,
            password=f"{username}-password" if role != "automation" else None,
        )
    yield s
    store.dispose()


@pytest.fixture
def app(svc: Crisis) -> Flask:
    config = Config(database_url="sqlite://", secret_key=Secret("test-secret"))
    return create_app(config, crisis=svc, test_config={"TESTING": True})


@pytest.fixture
def tokens(svc: Crisis) -> dict[str, str]:
    return {
        u.username: svc.accounts.create_token(actor=ADMIN, username=u.username, name="t")[1]
        for u in svc.accounts.list_users()
    }
