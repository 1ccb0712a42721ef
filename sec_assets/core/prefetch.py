"""Overlap producing work with consuming it: the pipeline of the embedding and inference steps.

``prefetched(items, prepare)`` iterates ``items`` on a background thread (where a Parquet read,
a decode or a resample happens, off the model's thread), runs ``prepare`` on each in a thread
pool, at most ``prefetch`` ahead, and yields the results in input order. An error on either
thread is raised in the consumer; a consumer that stops early (an error, a stop request, a
``break``) stops the producer and leaves no thread blocked. Memory is bounded by ``prefetch``
prepared items.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

THREAD_NAME = "sec-prefetch"  # the threads' name prefix (seen in stack dumps, checked in tests)
T = TypeVar("T")
R = TypeVar("R")


def prefetched(
    items: Iterable[T],
    prepare: Callable[[T], R],
    workers: int = 1,
    prefetch: int = 2,
) -> Iterator[R]:
    """``prepare`` each item in background threads, at most ``prefetch`` ahead, in input order."""
    pending: queue.Queue[Future[R] | None] = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()
    error: list[BaseException] = []

    def produce(pool: ThreadPoolExecutor) -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                pending.put(pool.submit(prepare, item))
        except BaseException as exc:  # surfaced in the consumer
            error.append(exc)
        finally:
            pending.put(None)

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix=f"{THREAD_NAME}-prepare") as pool:
        producer = threading.Thread(target=produce, args=(pool,), daemon=True, name=f"{THREAD_NAME}-produce")
        producer.start()
        try:
            while (future := pending.get()) is not None:
                yield future.result()
            if error:
                raise error[0]
        finally:
            stop.set()
            while producer.is_alive():  # unblock a producer waiting on a full queue
                try:
                    pending.get_nowait()
                except queue.Empty:
                    producer.join(timeout=0.05)
