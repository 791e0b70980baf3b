"""Wake live pages when timeline events are committed, in this process or any other.

On PostgreSQL one thread per web process LISTENs on ``crisis_events`` (every appended event
NOTIFYs it in its own transaction, so the notice arrives at commit) and wakes the server-sent
event streams of that incident. If the connection drops (a database restart), it reconnects with
backoff and wakes every stream once, so nothing committed meanwhile is missed. On SQLite, the
embedded single-process default, streams poll the timeline once a second.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from flask import current_app

from engine.kernel.journal import EVENTS_CHANNEL
from engine.store import libpq_dsn

log = logging.getLogger("crisis.live")

POLL_SECONDS = 1.0  # SQLite, or while the listener is down
SAFETY_SECONDS = 15.0  # on PostgreSQL, re-read this often even without a notice


class EventBus:
    """Per-incident versions that streams wait on; bumped by NOTIFY or by ``publish``."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._cond = threading.Condition()
        self._versions: dict[int, int] = {}
        self._epoch = 0  # bumped on reconnect: every stream re-reads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.listening = False

    @property
    def uses_postgres(self) -> bool:
        return self._url.startswith("postgresql")

    def start(self) -> None:
        """Start listening (once; a no-op on SQLite)."""
        with self._start_lock:
            if not self.uses_postgres or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._listen, name="crisis-listen", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def version(self, incident_id: int) -> tuple[int, int]:
        with self._cond:
            return self._epoch, self._versions.get(incident_id, 0)

    def wait(self, incident_id: int, seen: tuple[int, int]) -> tuple[int, int]:
        """Block until the incident has news (or a poll interval passes); return the version."""
        timeout = SAFETY_SECONDS if self.listening else POLL_SECONDS
        with self._cond:
            self._cond.wait_for(
                lambda: (self._epoch, self._versions.get(incident_id, 0)) != seen, timeout=timeout
            )
            return self._epoch, self._versions.get(incident_id, 0)

    def publish(self, incident_id: int) -> None:
        with self._cond:
            self._versions[incident_id] = self._versions.get(incident_id, 0) + 1
            self._cond.notify_all()

    def _wake_all(self) -> None:
        with self._cond:
            self._epoch += 1
            self._cond.notify_all()

    def _listen(self) -> None:
        dsn = libpq_dsn(self._url)
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    self.listening = True
                    backoff = 0.5
                    self._wake_all()  # anything committed while we were away
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            incident, _, _ = note.payload.partition(":")
                            if incident.isdigit():
                                self.publish(int(incident))
            except psycopg.Error as exc:
                if self.listening:
                    log.warning(
                        "live events: lost the database (%s); reconnecting", type(exc).__name__
                    )
                self.listening = False
                self._wake_all()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening = False


def bus() -> EventBus:
    """This app's bus, its listener started on first use (only processes serving streams)."""
    b: EventBus = current_app.extensions["crisis.bus"]
    b.start()
    return b
