"""How the outbox worker makes one provider call, and the threads it makes them from.

A notifier with ``send_async`` (Twilio, over aiohttp) sends on the worker's event loop, within
the worker's deadline: one timer for all the sends in flight looks for overdue ones a few
times per deadline and cancels them (a timer per send, ``wait_for`` or ``asyncio.timeout``,
cost several per cent of the worker's CPU at 300 in flight). The others send from a pool of
threads (created on first use), each with the context of the task that asked (the incident
id, for log lines). The database has threads of its own beside the loop: on PostgreSQL two,
so a claim need not wait for a write of outcomes; on SQLite one, as SQLite writes one at a
time anyway.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from engine.kernel.errors import SendFailed
from engine.kernel.ports import Notifier, OutboundMessage, Receipt

log = logging.getLogger("crisis.worker")
T = TypeVar("T")


class GivenBack(Exception):
    """The worker is stopping: the row goes back unsent."""


class Threads:
    """The sending threads and the database thread of one worker."""

    def __init__(
        self, *, senders: int, deadline: float, stop: threading.Event, databases: int = 1
    ) -> None:
        self.senders = max(1, senders)
        self.databases = max(1, databases)
        self.deadline = deadline
        self._stop = stop
        self._send_pool: ThreadPoolExecutor | None = None
        self._sending: dict[asyncio.Task[Any], float] = {}  # sends on the loop: when due
        self._overdue: set[asyncio.Task[Any]] = set()  # cancelled for their deadline
        self._watch: asyncio.TimerHandle | None = None
        self._watch_loop: asyncio.AbstractEventLoop | None = None
        self._db_pool: ThreadPoolExecutor | None = None

    async def send(self, notifier: Notifier, message: OutboundMessage) -> Receipt:
        """One provider call; SendFailed (transient, ``deadline``) if it takes too long."""
        send_async = getattr(notifier, "send_async", None)
        if send_async is None:
            if self._send_pool is None:
                self._send_pool = ThreadPoolExecutor(self.senders, thread_name_prefix="send")
            return await self._in(self._send_pool, self._send_in_thread, notifier, message)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._sending[task] = loop.time() + self.deadline
        if self._watch is None or self._watch_loop is not loop:
            self._arm(loop)
        try:
            receipt: Receipt = await send_async(message)
        except asyncio.CancelledError:
            if task not in self._overdue:
                raise  # the worker's own cancellation
            task.uncancel()
            raise SendFailed(
                f"no answer within {self.deadline:g} s", permanent=False, code="deadline"
            ) from None
        finally:
            del self._sending[task]
            self._overdue.discard(task)
        return receipt

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watch_loop = loop
        self._watch = loop.call_later(min(1.0, self.deadline / 4), self._cancel_overdue, loop)

    def _cancel_overdue(self, loop: asyncio.AbstractEventLoop) -> None:
        self._watch = None
        now = loop.time()
        for task, due in list(self._sending.items()):
            if due <= now and task not in self._overdue:
                self._overdue.add(task)
                task.cancel()
        if self._sending:
            self._arm(loop)

    def _send_in_thread(self, notifier: Notifier, message: OutboundMessage) -> Receipt:
        if self._stop.is_set():  # queued for a thread when the stop came: give it back
            raise GivenBack
        return notifier.send(message)

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on a database thread."""
        if self._db_pool is None:
            self._db_pool = ThreadPoolExecutor(self.databases, thread_name_prefix="outbox-db")
        return await self._in(self._db_pool, fn, *args, **kwargs)

    async def _in(self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kw)
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def shutdown(self) -> None:
        for pool in (self._send_pool, self._db_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._send_pool = self._db_pool = None


async def close_all(notifiers: Iterable[Notifier]) -> None:
    """Close the notifiers' asynchronous sessions (before their event loop ends)."""
    for notifier in {id(n): n for n in notifiers}.values():
        close = getattr(notifier, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # closing a session must not stop the shutdown
                log.debug("closing %r failed", notifier, exc_info=True)


class Outage:
    """A database outage as the worker's log tells it: the first failure with its traceback,
    then one line every ``every`` seconds while it lasts, then one when it is over (the writer
    retries every few milliseconds; a line a retry buried the log during a restart)."""

    def __init__(self, log: logging.Logger, *, every: float = 10.0) -> None:
        self.log = log
        self.every = every
        self.since: float | None = None
        self.told = 0.0

    def failed(self, what: str) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = self.told = now
            self.log.exception("worker could not reach the database (%s); retrying", what)
        elif now - self.told >= self.every:
            self.told = now
            self.log.error("worker still cannot reach the database (%s) after %.0f s; retrying",
                           what, now - self.since)  # fmt: skip

    def over(self) -> None:
        if self.since is not None:
            self.log.warning("worker reached the database again after %.1f s",
                             time.monotonic() - self.since)  # fmt: skip
            self.since = None
