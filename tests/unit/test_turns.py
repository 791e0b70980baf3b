"""The SQLite writers' lock: reentrant, first come first served, and a wait that gives up."""

from __future__ import annotations

import threading
import time

from engine.store.turns import Turns


def test_the_lock_goes_to_waiters_in_the_order_they_came() -> None:
    turns = Turns()
    order: list[int] = []
    turns.acquire()
    threads = []
    for i in range(5):
        t = threading.Thread(target=lambda i=i: (turns.acquire(), order.append(i), turns.release()))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while len(turns._queue) < i + 1 and time.monotonic() < deadline:
            time.sleep(0.001)  # each waiter queued before the next one comes
    turns.release()
    for t in threads:
        t.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]


def test_the_holder_can_take_it_again_and_must_release_as_often() -> None:
    turns = Turns()
    assert turns.acquire() and turns.acquire()
    turns.release()
    taken = threading.Event()
    t = threading.Thread(target=lambda: (turns.acquire(), taken.set(), turns.release()))
    t.start()
    assert not taken.wait(0.1)  # still held once
    turns.release()
    assert taken.wait(5)
    t.join(timeout=5)


def test_a_waiter_that_gives_up_loses_its_place_and_the_lock_still_passes_on() -> None:
    turns = Turns()
    turns.acquire()
    gave_up: list[bool] = []
    t = threading.Thread(target=lambda: gave_up.append(turns.acquire(timeout=0.05)))
    t.start()
    t.join(timeout=5)
    assert gave_up == [False]
    turns.release()
    assert turns.acquire(timeout=0.1)  # nobody stale stands in the queue
    turns.release()


def test_only_the_holder_releases() -> None:
    turns = Turns()
    turns.acquire()
    errors: list[Exception] = []

    def other() -> None:
        try:
            turns.release()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=5)
    assert len(errors) == 1
    turns.release()
