"""The ``crisis`` command line, one module per area; ``main`` is the entry point."""

from __future__ import annotations

from web.cli import calendar, connectors, incidents, people, processes, schemas  # noqa: F401
from web.cli.common import main

__all__ = ["main"]
