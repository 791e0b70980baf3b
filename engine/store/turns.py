"""A reentrant lock that hands itself to its waiters in the order they came.

``threading.RLock`` lets whichever thread runs next take a released lock, so under load a
writer can lose its turn again and again while others pass it (on the embedded default the
slowest of four operators' declares waited several times the median). Here ``release`` gives
the lock to the longest waiter directly.
"""

from __future__ import annotations

import threading
from collections import deque


class Turns:
    """A reentrant lock, first come first served."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[tuple[threading.Lock, int]] = deque()

    def acquire(self, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            bell = threading.Lock()
            bell.acquire()
            entry = (bell, me)
            self._queue.append(entry)
        if bell.acquire(timeout=timeout):
            return True  # release() made us the owner before ringing
        with self._mutex:
            if entry in self._queue:  # still waiting: give up our place
                self._queue.remove(entry)
                return False
        return True  # handed over just as we gave up: it is ours

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a turn this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._queue:
                bell, who = self._queue.popleft()
                self._owner, self._depth = who, 1
                bell.release()
            else:
                self._owner = None
