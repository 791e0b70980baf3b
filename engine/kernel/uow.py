"""The unit of work each use case runs in.

One transaction per use case: the state change and its timeline events (``journal``) are
written on the same connection, so a process killed at any instant leaves both or neither.
After a commit that may have scheduled something (a timer, a post), the alarm clock is re-armed
through ``wake``, which the composition root sets; reads get a plain connection. Work that
must not hold the transaction's locks (writing an update's 100,000 outbox rows) is handed to
``after_commit`` and runs once the commit is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from sqlalchemy.engine import Connection

from engine.kernel.ports import Clock
from engine.store import Store

AFTER_COMMIT = "crisis.after_commit"
NEXT_DUE = "crisis.next_due"  # the earliest timer or post this transaction made due


class Work:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        # Told, on a commit that scheduled something, the earliest time it made due (None:
        # not known, look); the composition root arms the alarm clock with it.
        self.wake: Callable[[datetime | None], None] = lambda _due: None

    def now(self) -> datetime:
        return self.clock.now()

    @contextmanager
    def transaction(self, *, rearm: bool = False) -> Iterator[Connection]:
        """One transaction; ``rearm``: wake the alarm clock for what it scheduled, on commit;
        then what the transaction left to ``after_commit``, in order."""
        later: list[Callable[[Store], None]] = []
        due: list[datetime] = []
        with self.store.transaction() as conn:
            conn.info[AFTER_COMMIT], conn.info[NEXT_DUE] = later, due
            try:
                yield conn
            finally:
                conn.info.pop(AFTER_COMMIT, None)
                conn.info.pop(NEXT_DUE, None)
        if rearm:
            self.wake(min(due, default=None))
        for run in later:
            run(self.store)

    def read(self) -> AbstractContextManager[Connection]:
        return self.store.engine.connect()


def after_commit(conn: Connection, run: Callable[[Store], None]) -> bool:
    """Have ``run(store)`` called once the use case's transaction on ``conn`` commits (not at
    all if it rolls back). False when ``conn`` is not a use case's transaction (a timer's, a
    test's): the caller then does the work in the transaction it has."""
    later = conn.info.get(AFTER_COMMIT)
    if later is None:
        return False
    later.append(run)
    return True


def note_due(conn: Connection, when: datetime) -> None:
    """This transaction made a timer or a post due at ``when``: on commit, the alarm clock is
    armed for it without asking the database what is due next."""
    due = conn.info.get(NEXT_DUE)
    if due is not None:
        due.append(when)
