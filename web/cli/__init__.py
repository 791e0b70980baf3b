"""The ``crisis`` command line, one module per area; ``main`` is the entry point."""

from __future__ import annotations

from web.cli import calendar, incidents, people, processes  # noqa: F401 - register commands
from web.cli.common import main

__all__ = ["main"]
