"""The outbox worker: claim due deliveries and send them, hundreds in flight per process.

One event loop, on the worker's own thread, does the sending. A notifier with ``send_async``
(Twilio, over aiohttp) sends on that loop, so a send waiting on the network costs a coroutine,
not a thread; the other notifiers send from a small pool of threads. The database is used
from threads beside the loop (two on PostgreSQL, one on SQLite): a claim takes a batch of
rows, and outcomes are written in batches (one transaction, one UPDATE for all the
successes) every few milliseconds.

At most ``concurrency`` claimed rows are in the process at once, counting the outcomes not yet
written, so memory stays flat whatever the backlog and a killed worker resends at most that
many. A slot is refilled as soon as its send finishes: one slow send (a 15 s read timeout)
idles nothing else, and every send has its own deadline. Each sender is paced to its
configured rate (``ratelimit.Pacer``); a row whose sender cannot take it within ``HOLD``
seconds goes back to the database for its turn, so a slow sender's rows never fill the window.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from engine.delivery import outbox, receipts
from engine.delivery.outcomes import Outcome
from engine.delivery.ratelimit import Pacer
from engine.delivery.sending import GivenBack, Outage, Threads, close_all
from engine.kernel import logcontext
from engine.kernel.errors import SendFailed
from engine.kernel.ports import Clock, Metrics, Notifier, NullMetrics, OutboundMessage
from engine.store import Store

log = logging.getLogger("crisis.worker")
T = TypeVar("T")
CONCURRENCY = 300  # claimed rows in this process at once: sends in flight, and waiting (at
# 200, the claims and batched writes around each 150 ms send left a fifth of the window idle)
THREADS = 16  # for notifiers that send synchronously (SMTP, the sandbox, chat clients)
BATCH = 128  # rows per claim, at most
HOLD = 1.0  # seconds a row may wait for its sender's pace before it goes back to the database
FLUSH_EVERY = 0.02  # seconds between writes of finished sends' outcomes
DEADLINE = 60.0  # seconds an asynchronous send may take before it counts as a transient failure
SWEEP_EVERY = 1.0  # seconds between sweeps of receipts that arrived before their row
RETRY_DB = 0.25  # seconds before writing outcomes again when the database did not answer
RULED = 4  # outcomes whose owner acts on them (a connector's scan, a thread) per transaction


def parts(batch: list[Outcome], *, owners: outbox.Owners) -> Iterator[list[Outcome]]:
    """The batch in order, cut after every RULED sends an owner's rule acts on."""
    part: list[Outcome] = []
    n = 0
    for o in batch:
        part.append(o)
        if o.receipt is not None and owners.acts_on_sent(o.claimed.message):
            n += 1
            if n == RULED:
                yield part
                part, n = [], 0
    if part:
        yield part


class Worker:
    """Send outbox rows, up to ``concurrency`` in flight, recording every outcome."""

    def __init__(
        self,
        *,
        store: Store,
        notifiers: Mapping[str, Notifier],
        media: Mapping[str, str],
        clock: Clock,
        owners: outbox.Owners,
        rates: Mapping[str, float] | None = None,
        concurrency: int = CONCURRENCY,
        threads: int = THREADS,
        lease: float = 60.0,
        batch: int = BATCH,
        idle: float = 0.2,
        deadline: float = DEADLINE,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.media = dict(media)
        self.clock = clock
        self.owners = owners
        # Per channel (one sender each), per process: N processes each at `rate` add up.
        self.rates = {ch: rate for ch, rate in (rates or {}).items() if rate}
        self.pacers: dict[str, Pacer] = {}
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease)
        self.batch = batch
        self.idle = idle
        self._outage = Outage(log)
        self.deadline = deadline
        self.metrics = metrics or NullMetrics()
        self._stop = threading.Event()
        self._threads = Threads(
            senders=min(threads, concurrency),
            deadline=deadline,
            stop=self._stop,
            databases=1 if store.dialect == "sqlite" else 2,  # SQLite: one writer at a time
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._done: list[Outcome] = []  # finished, not yet written
        self._writing = 0  # outcomes in the write under way

    # -- running ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch, send it (``concurrency`` at a time) and record every outcome;
        return how many rows were claimed."""
        return self._run(self._once())

    def send_claimed(self, claimed: Sequence[outbox.Claimed]) -> None:
        """Send rows the caller claimed itself, and record their outcomes."""
        self._run(self._send_all(list(claimed)))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on an event loop of its own, closed (with the sessions) after it."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the worker is running on its own thread")
        loop = self._event_loop(new=True)
        try:
            return loop.run_until_complete(work)
        finally:
            loop.run_until_complete(self._close_notifiers())
            loop.close()

    async def _once(self) -> int:
        claimed = await self._claim(self.batch)
        await self._send_all(claimed)
        return len(claimed)

    async def _send_all(self, claimed: list[outbox.Claimed]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: outbox.Claimed) -> None:
            async with gate:
                await self._deliver(item)

        await asyncio.gather(*(one(item) for item in claimed))
        await self._write()

    def poke(self) -> None:
        """New rows were queued: look now rather than after the idle pause."""
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        loop = self._event_loop(new=True)
        self._thread = threading.Thread(
            target=lambda: loop.run_until_complete(self._main()), name="outbox-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; let in-flight sends finish and record their outcome; give back the
        rows claimed but not yet sent, so another process sends them at once."""
        self._stop.set()
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(self._stopping.set)
            loop.call_soon_threadsafe(self._wake.set)
            self._thread.join(timeout)
        if loop is not None and not loop.is_running() and not loop.is_closed():
            loop.run_until_complete(self._close_notifiers())
            loop.close()
        self._threads.shutdown()

    async def _main(self) -> None:
        writer = asyncio.create_task(self._writer())
        swept = 0.0
        while not self._stop.is_set():
            want = min(self._free(), self.batch)
            n = 0
            try:
                if want > 0:
                    claimed = await self._claim(want)
                    n = len(claimed)
                    self._outage.over()
                    for item in claimed:
                        self._spawn(item)
                if time.monotonic() - swept > SWEEP_EVERY:  # receipts that crossed their row
                    swept = time.monotonic()
                    await self._threads.db(self._sweep)
            except sa.exc.SQLAlchemyError:
                self._outage.failed("claiming")
            if want <= 0 or n < want:  # full, or nothing more is due now
                try:
                    await asyncio.wait_for(self._wake.wait(), self.idle)
                except TimeoutError:
                    pass
                self._wake.clear()
        if self._in_flight:
            await asyncio.wait(self._in_flight)
        self._stopping.set()
        await writer
        await self._close_notifiers()

    def _free(self) -> int:
        return self.concurrency - len(self._in_flight) - len(self._done) - self._writing

    def _spawn(self, item: outbox.Claimed) -> None:
        task = asyncio.create_task(self._deliver(item))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        # Claim again once a quarter of a batch is free (one claim per finished send
        # would cost a transaction per message).
        if self._free() >= max(1, min(self.batch, self.concurrency) // 4):
            self._wake.set()

    # -- one delivery ----------------------------------------------------------------------

    async def _deliver(self, item: outbox.Claimed) -> None:
        m = item.message
        with logcontext.about(item.incident_id):
            pacer = self.pacers.get(m.channel) or self.pacers.setdefault(
                m.channel, Pacer(self.rates.get(m.channel))
            )
            try:
                notifier = self.notifiers.get(m.channel)
                if notifier is None:
                    raise SendFailed(
                        f"no notifier is configured for channel {m.channel!r}",
                        permanent=True,
                        code="no_channel",
                    )
                if pacer.delay() > HOLD:  # its turn is later: back to the database until then
                    now = self.clock.now()
                    due = now + timedelta(seconds=pacer.later())
                    self._done.append(Outcome(item, now, due=due))
                    return
                if await self._stopped_within(pacer.take()):
                    raise GivenBack
                if self._stop.is_set():
                    raise GivenBack
                message = await self._as_sent(item)
                if message is None:
                    return
                receipt = await self._threads.send(notifier, message)
            except GivenBack:
                self._done.append(Outcome(item, self.clock.now()))
            except SendFailed as exc:
                if exc.throttled:
                    pacer.throttled()
                self.metrics.provider_error(m.channel, exc.provider_code or "unknown")
                within = None if exc.permanent else pacer.failed()
                self._done.append(Outcome(item, self.clock.now(), error=exc, retry_within=within))
            except Exception as exc:
                log.exception("notifier for %s raised", m.channel)
                self.metrics.provider_error(m.channel, "adapter_error")
                error = SendFailed(
                    f"{type(exc).__name__}: {exc}", permanent=False, code="adapter_error"
                )
                self._done.append(Outcome(item, self.clock.now(), error=error))
            else:
                now = self.clock.now()
                pacer.succeeded()
                self._done.append(Outcome(item, now, receipt=receipt))
                if item.queued_at is not None:
                    self.metrics.delivered(m.channel, (now - item.queued_at).total_seconds())

    async def _as_sent(self, item: outbox.Claimed) -> OutboundMessage | None:
        """Ask the owner once more, just before sending (moot: None); add its context."""
        m = item.message
        if m.kind in self.owners.moot:
            wanted = outbox.still_wanted
            if not await self._threads.db(
                wanted, self.store, item, now=self.clock.now(), owners=self.owners
            ):
                log.info("delivery %s cancelled before sending", m.delivery_id)
                return None
        if self.owners.needs_context(m):
            return await self._threads.db(outbox.with_context, self.store, m, owners=self.owners)
        return m

    async def _stopped_within(self, seconds: float) -> bool:
        if seconds <= 0:
            return self._stop.is_set()
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return self._stop.is_set()
        return True

    # -- the database ----------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[outbox.Claimed]:
        return await self._threads.db(
            outbox.claim, self.store, now=self.clock.now(), limit=limit,
            media=self.media, owners=self.owners, lease=self.lease,
        )  # fmt: skip

    async def _writer(self) -> None:
        """Write what finished every FLUSH_EVERY seconds, until stopped and all is written."""
        while not (self._stopping.is_set() and not self._done and not self._in_flight):
            await asyncio.sleep(FLUSH_EVERY)
            if self._done:
                await self._write()

    async def _write(self) -> None:
        """Write what finished, in transactions that stay short: plain sends all together,
        but at most RULED of those an owner acts on (each of those is a few statements, and on
        SQLite every other writer of the process waits for the transaction)."""
        batch, self._done = self._done, []
        self._writing = len(batch)
        start = 0  # where the part being written starts in the batch
        try:
            for part in parts(batch, owners=self.owners):
                try:
                    statuses = await self._threads.db(
                        outbox.record_outcomes, self.store, part, owners=self.owners
                    )
                except sa.exc.SQLAlchemyError:
                    self._outage.failed(f"recording {len(part)} outcomes")
                    self._done[:0] = batch[start:]  # this part and the rest, in order
                    self._writing = 0
                    await asyncio.sleep(RETRY_DB)
                    return
                self._outage.over()
                self._report(part, statuses)
                start += len(part)
        finally:
            self._writing = 0
        if self._free() > 0:
            self._wake.set()

    def _report(self, part: list[Outcome], statuses: list[str]) -> None:
        failed = [o for o in part if o.error is not None]
        for o, status in zip(failed, statuses, strict=True):
            with logcontext.about(o.claimed.incident_id):
                log.warning(
                    "delivery %s on %s: %s (%s)",
                    o.claimed.message.delivery_id, o.claimed.message.channel, status, o.error,
                )  # fmt: skip

    def _sweep(self) -> None:
        """Apply the delivery receipts kept since the last sweep, a batch at a time."""
        while True:
            with self.store.transaction() as conn:
                if receipts.sweep(conn, now=self.clock.now()) < receipts.BATCH:
                    return

    def _event_loop(self, *, new: bool = False) -> asyncio.AbstractEventLoop:
        if new or self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            self._wake, self._stopping = asyncio.Event(), asyncio.Event()
        return self._loop

    async def _close_notifiers(self) -> None:
        await close_all(self.notifiers.values())
