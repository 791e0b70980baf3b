"""The one way tests build an outbox worker and run the outbox dry (no HTTP involved)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.app import Crisis
from engine.delivery.sandbox import SandboxNotifier
from engine.delivery.worker import Worker
from engine.kernel.ports import Clock, Notifier
from engine.public.status_page import StatusPageNotifier


def outbox_worker(
    crisis: Crisis,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
    every: Notifier | None = None,
    status_page: bool = False,
    clock: Clock | None = None,
    **options: Any,
) -> Worker:
    """A worker over the engine's channels, wired like the runtime's (owners, media).

    Each channel sends through ``every`` (default: the sandbox) unless ``notifiers`` names it;
    with ``status_page`` the status_page channel writes real entries. ``options`` go to Worker.
    """
    clock = clock or crisis.clock
    chosen: dict[str, Notifier] = dict.fromkeys(
        crisis.channels, every or SandboxNotifier(store=crisis.store, clock=clock)
    )
    if status_page:
        chosen["status_page"] = StatusPageNotifier(store=crisis.store, clock=clock)
    chosen.update(notifiers or {})
    return Worker(
        store=crisis.store,
        owners=crisis.owners,
        notifiers=chosen,
        media={n: c.medium for n, c in crisis.channels.items()}
        | dict.fromkeys(crisis.connectors, "connector"),
        clock=clock,
        **options,
    )


def drain(worker: Worker) -> int:
    """Send everything due now, then stop the worker; how many rows were claimed."""
    claimed = 0
    try:
        while n := worker.run_once():
            claimed += n
    finally:
        worker.stop()
    return claimed
