"""Group commit: many threads' small writes in one transaction, each caller answered once its
own row is durable.

A status callback is one row, but a transaction per row costs a connection checkout and
three round trips (BEGIN, INSERT, COMMIT) for each. Here the first caller to arrive while no
write is under way becomes the leader: it writes every row queued so far in one call of
``write``, and the callers that arrived meanwhile wait for that commit (or the next one)
instead of each opening their own. Nobody returns before their row is committed, and if the
write fails every caller in that batch gets the error: nothing is acknowledged that was not
kept. A lone caller waits for nobody.

Each batch has its own condition, so a commit wakes only the callers whose rows it wrote, and
the turn to write the next batch goes to one of that batch's callers: every caller wakes once
(under a blast a shared condition woke every waiter at every commit, and most went back to
sleep: that was most of the hook's CPU beside the INSERT).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Batch(Generic[T]):
    __slots__ = ("items", "cond", "written", "turn", "error")

    def __init__(self, lock: threading.Lock) -> None:
        self.items: list[T] = []
        self.cond = threading.Condition(lock)
        self.written = False
        self.turn = False  # its turn to be written: the first of its callers to see it leads
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], None], *, most: int = 500) -> None:
        self._write = write
        self._most = most  # rows per transaction, at most
        self._lock = threading.Lock()
        self._pending: deque[_Batch[T]] = deque()  # not yet written; new rows join the last
        self._writing = False

    def submit(self, item: T) -> None:
        """Return once ``item`` is written and committed; raise what the write raised."""
        with self._lock:
            if not self._pending or len(self._pending[-1].items) >= self._most:
                self._pending.append(_Batch(self._lock))
            batch = self._pending[-1]
            batch.items.append(item)
            if self._writing:  # someone is writing: wait for this batch's commit, or its turn
                while not batch.written and not batch.turn:
                    batch.cond.wait()
                if batch.written:
                    return self._outcome(batch)
                batch.turn = False  # taken: this caller leads
            self._writing = True
            self._pending.popleft()  # the batch is closed: later rows start the next
        try:
            self._write(batch.items)
        except BaseException as exc:  # every caller in the batch hears of it
            batch.error = exc
        with self._lock:
            batch.written = True
            batch.cond.notify_all()
            if self._pending:  # hand the next batch to one of its callers
                following = self._pending[0]
                following.turn = True
                following.cond.notify()
            else:
                self._writing = False
        return self._outcome(batch)

    @staticmethod
    def _outcome(batch: _Batch[T]) -> None:
        if batch.error is not None:
            raise batch.error
