"""The composition root shared by the CLI and the app factory: config → store → the engine."""

from __future__ import annotations

from engine.app import Crisis
from engine.kernel.errors import CrisisError
from engine.kernel.keys import Keys
from engine.kernel.ports import Clock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import load_config
from engine.playbooks.places import Places
from engine.store import Store
from web.config import Config, deployment_secret


class NotMigrated(CrisisError):
    code = "not_migrated"


def build_crisis(config: Config, *, clock: Clock | None = None) -> Crisis:
    """Open the store (migrating it if configured to), load channels and playbooks."""
    keys = Keys.derive(deployment_secret(config), audit=str(config.audit_key))
    store = Store.from_url(config.database_url, keys=keys)
    if config.auto_migrate:
        store.upgrade()
    elif store.current_revision() != store.head_revision():
        raise NotMigrated("the database schema is not current: run `crisis db upgrade`")
    channels, connectors = load_config(config.channels_file)
    catalog = Catalog.load(config.playbooks, channels=channels)
    from web.public import load_status_page

    places = Places.from_components(load_status_page(config.status_page_file).components)
    from web.connectors import build_platforms

    return Crisis(
        store=store,
        catalog=catalog,
        clock=clock,
        channels=channels,
        places=places,
        connectors=connectors,
        platforms=build_platforms(connectors),
    )
