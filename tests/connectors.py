"""The one way tests build an engine with connectors: the shipped channels, this YAML's
``connectors:`` in place of the shipped one."""

from __future__ import annotations

from pathlib import Path

from engine.app import Crisis
from engine.kernel.ports import Clock
from engine.playbooks.catalog import Catalog
from engine.playbooks.channels import parse_config
from engine.store import Store
from tests.conftest import CHANNELS


def config_text(connectors: str) -> str:
    """The test channels with ``connectors`` (a ``connectors:`` YAML block) appended."""
    text = Path(CHANNELS).read_text()
    return text.split("\n# Marketing platforms")[0].split("\nconnectors:")[0] + connectors


def crisis_with(connectors: str, *, store: Store, catalog: Catalog, clock: Clock) -> Crisis:
    channels, found = parse_config(config_text(connectors), file="channels.yaml")
    return Crisis(store=store, catalog=catalog, clock=clock, channels=channels, connectors=found)
