"""The outbox worker: claim due deliveries, send them through their channel's notifier."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from engine.delivery import outbox, receipts
from engine.delivery.ratelimit import TokenBucket
from engine.kernel import logcontext
from engine.kernel.errors import SendFailed
from engine.kernel.ports import Clock, Metrics, Notifier, NullMetrics
from engine.store import Store

log = logging.getLogger("crisis.worker")
SWEEP_EVERY = 1.0  # seconds between sweeps of receipts that arrived before their row


class Worker:
    """Send outbox rows, ``concurrency`` at a time, recording every outcome."""

    def __init__(
        self,
        *,
        store: Store,
        notifiers: Mapping[str, Notifier],
        media: Mapping[str, str],
        clock: Clock,
        owners: outbox.Owners,
        rates: Mapping[str, float] | None = None,
        concurrency: int = 8,
        lease: float = 60.0,
        batch: int = 64,
        idle: float = 0.2,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.media = dict(media)
        self.clock = clock
        self.owners = owners
        # Per channel, per process: N processes each sending at `rate` add up (see README).
        self.buckets = {ch: TokenBucket(rate) for ch, rate in (rates or {}).items() if rate}
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease)
        self.batch = batch
        self.idle = idle
        self.metrics = metrics or NullMetrics()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send")

    def run_once(self) -> int:
        """Claim one batch and send it; return how many rows were claimed."""
        claimed = outbox.claim(
            self.store,
            now=self.clock.now(),
            limit=self.batch,
            media=self.media,
            owners=self.owners,
            lease=self.lease,
        )
        if claimed:
            list(self._pool.map(self._send, claimed))
        return len(claimed)

    def _send(self, item: outbox.Claimed) -> None:
        if self._stop.is_set():  # shutting down: hand the claim back instead of sending
            outbox.release(self.store, item, now=self.clock.now())
            return
        with logcontext.about(item.incident_id):
            self._send_one(item)

    def _send_one(self, item: outbox.Claimed) -> None:
        notifier = self.notifiers.get(item.message.channel)
        try:
            if notifier is None:
                raise SendFailed(
                    f"no notifier is configured for channel {item.message.channel!r}",
                    permanent=True,
                    code="no_channel",
                )
            bucket = self.buckets.get(item.message.channel)
            if bucket is not None:
                bucket.acquire()
            if not outbox.still_wanted(self.store, item, now=self.clock.now(), owners=self.owners):
                log.info("delivery %s cancelled before sending", item.message.delivery_id)
                return
            message = outbox.with_context(self.store, item.message, owners=self.owners)
            receipt = notifier.send(message)
        except SendFailed as exc:
            self.metrics.provider_error(item.message.channel, exc.provider_code or "unknown")
            status = outbox.record_failure(
                self.store, item, exc, now=self.clock.now(), owners=self.owners
            )
            log.warning(
                "delivery %s on %s: %s (%s)",
                item.message.delivery_id,
                item.message.channel,
                status,
                exc,
            )
            return
        except Exception as exc:
            log.exception("notifier for %s raised", item.message.channel)
            self.metrics.provider_error(item.message.channel, "adapter_error")
            outbox.record_failure(
                self.store,
                item,
                SendFailed(f"{type(exc).__name__}: {exc}", permanent=False, code="adapter_error"),
                now=self.clock.now(),
                owners=self.owners,
            )
            return
        now = self.clock.now()
        outbox.record_success(self.store, item, receipt, now=now, owners=self.owners)
        if item.queued_at is not None:
            self.metrics.delivered(item.message.channel, (now - item.queued_at).total_seconds())

    def poke(self) -> None:
        """New rows were queued: look now rather than after the idle pause."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="outbox-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """Keep every slot busy: claim as slots free up, never waiting for a whole batch, so
        one slow send (a 15 s read timeout) does not idle the others. At most ``window``
        claimed rows are in this process at once (each has its own lease), so memory stays
        flat whatever the backlog."""
        swept = 0.0
        window = self.concurrency * 2  # the senders, and as many waiting for a free sender
        in_flight: set[Future[None]] = set()
        lock = threading.Lock()
        full = threading.Event()  # the window is full: a finished send wakes the loop

        def done(f: Future[None]) -> None:
            with lock:
                in_flight.discard(f)
            if full.is_set():
                self._wake.set()

        while not self._stop.is_set():
            with lock:
                free = window - len(in_flight)
            n = 0
            try:
                if free > 0:
                    claimed = outbox.claim(
                        self.store, now=self.clock.now(), limit=min(free, self.batch),
                        media=self.media, owners=self.owners, lease=self.lease,
                    )  # fmt: skip
                    n = len(claimed)
                    for item in claimed:
                        f = self._pool.submit(self._send, item)
                        with lock:
                            in_flight.add(f)
                        f.add_done_callback(done)
                if time.monotonic() - swept > SWEEP_EVERY:  # receipts that crossed their row
                    swept = time.monotonic()
                    with self.store.transaction() as conn:
                        receipts.sweep(conn, now=self.clock.now())
            except sa.exc.SQLAlchemyError:
                log.exception("worker could not reach the database; retrying")
            if free <= 0 or n < min(free, self.batch):  # full, or nothing more is due now
                if free <= 0:
                    full.set()
                self._wake.wait(self.idle)
                self._wake.clear()
                full.clear()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; let in-flight sends finish and record their outcome; give back the
        rows claimed but not yet started, so another process sends them at once."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)
