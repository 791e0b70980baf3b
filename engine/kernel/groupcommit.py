"""Group commit: many threads' small writes in one transaction, each caller answered once its
own row is durable.

A status callback is one row, but a transaction per row costs a connection checkout and
three round trips (BEGIN, INSERT, COMMIT) for each. Here the first caller to arrive while no
write is under way becomes the leader: it writes every row queued so far in one call of
``write``, and the callers that arrived meanwhile wait for that commit (or the next one)
instead of each opening their own. Nobody returns before their row is committed, and if the
write fails every caller in that batch gets the error: nothing is acknowledged that was not
kept. A lone caller waits for nobody.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], None], *, most: int = 500) -> None:
        self._write = write
        self._most = most  # rows per transaction, at most
        self._cond = threading.Condition()
        self._queued: list[T] = []
        self._batch = 0  # the batch the next row joins
        self._done = 0  # batches before this one are finished
        self._failed: dict[int, BaseException] = {}
        self._writing = False

    def submit(self, item: T) -> None:
        """Return once ``item`` is written and committed; raise what the write raised."""
        with self._cond:
            self._queued.append(item)
            mine = self._batch + (len(self._queued) - 1) // self._most
            while self._done <= mine and self._writing:
                self._cond.wait()
            if self._done > mine:
                return self._outcome(mine)
            self._writing = True  # lead: write what is queued (this row among it)
        while True:
            with self._cond:
                batch, self._queued = self._queued[: self._most], self._queued[self._most :]
                number = self._batch
                self._batch += 1
            error: BaseException | None = None
            try:
                self._write(batch)
            except BaseException as exc:  # every caller in the batch hears of it
                error = exc
            with self._cond:
                if error is not None:
                    self._failed[number] = error
                for old in [b for b in self._failed if b < number - 1000]:
                    del self._failed[old]  # long told: its callers woke long ago
                self._done = number + 1
                more = number < mine
                if not more:
                    self._writing = False
                self._cond.notify_all()
            if not more:
                return self._outcome(mine)

    def _outcome(self, batch: int) -> None:
        error = self._failed.get(batch)
        if error is not None:
            raise error
