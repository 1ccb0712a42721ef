"""The prefetching pipeline: input order kept, errors surfaced, an early stop frees the producer."""

import threading
import time

import pytest

from sec_assets.core.prefetch import prefetched


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

    before = threading.active_count()
    for value in prefetched(endless(), lambda i: i, prefetch=2):
        if value == 3:
            break
    time.sleep(0.1)
    assert threading.active_count() == before  # producer and pool threads gone
    assert len(produced) <= 3 + 2 + 2  # never more than the prefetch depth ahead
