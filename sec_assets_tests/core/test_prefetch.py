"""The prefetching pipeline: input order kept, errors surfaced, an early stop frees the producer."""

import threading
import time

import pytest

from sec_assets.core.prefetch import THREAD_NAME, prefetched


def test_prefetch_keeps_order_and_surfaces_errors():
    def slow(i: int) -> int:
        time.sleep(0.01 * (3 - i % 3))  # later items finish first
        return i * 10

    assert list(prefetched(iter(range(9)), slow, workers=3, prefetch=2)) == [i * 10 for i in range(9)]

    def broken():
        yield 0
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(broken(), slow, workers=2, prefetch=2))


def test_a_consumer_that_stops_early_stops_the_producer():
    produced: list[int] = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = prefetched(endless(), lambda i: i, prefetch=2)
    for value in stream:
        if value == 3:
            break
    assert any(t.name.startswith(THREAD_NAME) for t in threading.enumerate())  # suspended, not closed
    stream.close()  # what leaving the loop does once the generator is dropped
    assert not [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME)]  # all joined
    # never more than the prefetch depth ahead: 4 consumed, 2 queued, 1 in a blocked put, and the
    # one item the producer may pull before it sees the stop
    assert len(produced) <= 4 + 2 + 1 + 1
