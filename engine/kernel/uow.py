"""The unit of work each use case runs in.

One transaction per use case: the state change and its timeline events (``journal``) are
written on the same connection, so a process killed at any instant leaves both or neither.
After a commit that may have scheduled something (a timer, a post), the alarm clock is re-armed
through ``wake``, which the composition root sets; reads get a plain connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from sqlalchemy.engine import Connection

from engine.kernel.ports import Clock
from engine.store import Store


class Work:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.wake: Callable[[], None] = lambda: None

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def transaction(self, *, rearm: bool = False) -> Iterator[Connection]:
        """One transaction; ``rearm``: wake the alarm clock for what it scheduled, on commit."""
        with self.store.transaction() as conn:
            yield conn
        if rearm:
            self.wake()

    def read(self) -> AbstractContextManager[Connection]:
        return self.store.engine.connect()
