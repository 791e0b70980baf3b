"""Group commit: concurrent callers share writes; none returns before its row is written, and a
failed write reaches every caller whose row was in it, and only them."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from engine.kernel.groupcommit import GroupCommit


class Sink:
    def __init__(self, *, pause: float = 0.0, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.written: set[int] = set()
        self.pause = pause
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def write(self, batch: Sequence[int]) -> None:
        time.sleep(self.pause)
        if self.fail_on is not None and self.fail_on in batch:
            raise ConnectionError(f"lost the batch with {self.fail_on}")
        with self.lock:
            self.batches.append(list(batch))
            self.written |= set(batch)


def run_together(group: GroupCommit[int], sink: Sink, n: int) -> dict[int, BaseException | None]:
    outcomes: dict[int, BaseException | None] = {}
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            group.submit(i)
        except BaseException as exc:
            outcomes[i] = exc
            return
        assert i in sink.written  # never told "kept" before it was
        outcomes[i] = None

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return outcomes


def test_a_lone_caller_writes_its_row_at_once() -> None:
    sink = Sink()
    GroupCommit(sink.write).submit(7)
    assert sink.batches == [[7]]


def test_concurrent_callers_share_writes_and_each_row_is_written_once() -> None:
    sink = Sink(pause=0.01)
    outcomes = run_together(GroupCommit(sink.write), sink, 60)
    assert outcomes == dict.fromkeys(range(60))
    rows = [r for b in sink.batches for r in b]
    assert sorted(rows) == list(range(60))
    assert len(sink.batches) < 30  # shared: far fewer transactions than callers


def test_a_batch_is_at_most_the_limit() -> None:
    sink = Sink(pause=0.01)
    run_together(GroupCommit(sink.write, most=4), sink, 40)
    assert max(len(b) for b in sink.batches) <= 4
    assert sorted(r for b in sink.batches for r in b) == list(range(40))


def test_a_failed_write_reaches_exactly_the_callers_in_it() -> None:
    sink = Sink(pause=0.01, fail_on=13)
    outcomes = run_together(GroupCommit(sink.write), sink, 40)
    failed = {i for i, e in outcomes.items() if e is not None}
    assert 13 in failed
    assert all(isinstance(outcomes[i], ConnectionError) for i in failed)
    assert failed.isdisjoint(sink.written)  # told "failed" only when not kept
    assert set(outcomes) - failed == sink.written
    group = GroupCommit(Sink(fail_on=1).write)  # and the next caller is not blamed
    with pytest.raises(ConnectionError):
        group.submit(1)
    group.submit(2)
