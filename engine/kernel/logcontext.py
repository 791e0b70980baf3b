"""Which incident the current work is about, for log lines (a context variable)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

incident_id: ContextVar[int | None] = ContextVar("crisis_incident_id", default=None)


@contextmanager
def about(incident: int | None) -> Iterator[None]:
    """Log lines written inside this block carry ``incident``."""
    token = incident_id.set(incident)
    try:
        yield
    finally:
        incident_id.reset(token)
