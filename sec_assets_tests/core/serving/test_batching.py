"""Dynamic batching: concurrent submissions share one pass, the size cap holds, a large item is a
batch of its own, an error reaches every request of its batch and the worker goes on."""

from __future__ import annotations

import threading
import time

import pytest

from sec_assets.core.serving.batching import Batcher, BatchStats


def test_concurrent_items_share_one_pass_and_each_gets_its_own_answer():
    passes: list[list[int]] = []
    gate = threading.Event()

    def run(items):
        gate.wait(5)
        passes.append(list(items))
        return [i * 10 for i in items]

    stats: list[BatchStats] = []
    b = Batcher(run, max_size=100, max_wait=0.5, on_batch=stats.append)
    futures = [b.submit(i, size=2) for i in range(8)]
    gate.set()
    assert [f.result(5) for f in futures] == [i * 10 for i in range(8)]
    assert passes == [list(range(8))]
    assert (stats[0].items, stats[0].units) == (8, 16)
    b.stop()


def test_the_size_cap_splits_batches_and_a_large_item_runs_alone():
    passes: list[list[str]] = []
    hold = threading.Event()

    def run(items):
        hold.wait(5)
        passes.append(list(items))
        return items

    b = Batcher(run, max_size=4, max_wait=0.2)
    futures = [b.submit("a", 2), b.submit("b", 2), b.submit("c", 3), b.submit("big", 9), b.submit("d", 1)]
    hold.set()
    assert [f.result(5) for f in futures] == ["a", "b", "c", "big", "d"]
    assert passes == [["a", "b"], ["c"], ["big"], ["d"]]
    b.stop()


def test_an_error_fails_its_batch_only():
    def run(items):
        if "bad" in items:
            raise ValueError("no features")
        return items

    b = Batcher(run, max_size=1, max_wait=0)
    bad, good = b.submit("bad"), b.submit("good")
    with pytest.raises(ValueError, match="no features"):
        bad.result(5)
    assert good.result(5) == "good"
    b.stop()


def test_a_lone_request_waits_at_most_max_wait():
    b = Batcher(lambda items: items, max_size=64, max_wait=0.05)
    started = time.perf_counter()
    assert b.submit("x").result(5) == "x"
    assert time.perf_counter() - started < 2.0  # bounded by max_wait, not by the batch filling up
    b.stop()


def test_stop_finishes_queued_work_then_refuses():
    b = Batcher(lambda items: [i + 1 for i in items], max_size=1, max_wait=0)
    futures = [b.submit(i) for i in range(5)]
    b.stop()
    assert [f.result(5) for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="stopped"):
        b.submit(1)


def test_a_lone_request_does_not_wait_when_nothing_else_is_coming():
    coming = [0]
    b = Batcher(lambda items: items, max_size=64, max_wait=5.0, coming=lambda: coming[0])
    started = time.perf_counter()
    assert b.submit("x").result(10) == "x"
    assert time.perf_counter() - started < 2.5  # not the 5-s max_wait
    coming[0] = 1  # another request is being prepared: the batch waits for it
    first = b.submit("a")
    time.sleep(0.3)
    assert not first.done()
    coming[0] = 0
    second = b.submit("b")
    assert (first.result(10), second.result(10)) == ("a", "b")
    b.stop()
