"""Dynamic batching: the work of concurrent requests gathered into one pass.

Requests :meth:`Batcher.submit` an item and wait on its future; one worker thread takes the first
waiting item, waits up to ``max_wait`` seconds for others while the batch holds fewer than
``max_size`` units (windows), and runs ``run(items)`` once for all of them — so eight clients
share forward passes instead of queueing one behind another. It does not wait at all when nothing
else is queued and ``coming()`` says no other item is being prepared: a lone request pays no wait.
An item larger than ``max_size`` is a batch of its own, never split (its answer comes from one
pass, with one set of models). An exception of ``run`` fails every future of its batch and the
worker goes on. The same pattern as Triton's, LitServe's and Ray Serve's dynamic batchers, kept
in-process (their servers would be a second deployment); written here because it is a few dozen
lines around :mod:`queue`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Job(Generic[T, R]):
    item: T
    size: int
    future: Future[R] = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class BatchStats:
    items: int
    units: int
    waited_s: float  # how long the batch's first item waited for the batch to start
    seconds: float  # how long the pass took


class Batcher(Generic[T, R]):
    def __init__(
        self,
        run: Callable[[Sequence[T]], Sequence[R]],
        max_size: int,
        max_wait: float,
        on_batch: Callable[[BatchStats], Any] | None = None,
        coming: Callable[[], int] | None = None,
        name: str = "batcher",
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self._run = run
        self.max_size = max_size
        self.max_wait = max_wait
        self._on_batch = on_batch
        self._coming = coming  # how many items are being prepared and will be submitted soon
        self._queue: queue.Queue[_Job[T, R] | None] = queue.Queue()
        self._held: _Job[T, R] | None = None  # taken from the queue but too large for the batch
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T, size: int = 1) -> Future[R]:
        """Queue ``item`` (``size`` units); its future holds ``run``'s answer for it."""
        if self._stopped.is_set():
            raise RuntimeError("the batcher is stopped")
        job: _Job[T, R] = _Job(item, max(size, 1))
        self._queue.put(job)
        return job.future

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued work, then stop the worker."""
        self._stopped.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _next(self, timeout: float | None) -> _Job[T, R] | None:
        if self._held is not None:
            job, self._held = self._held, None
            return job
        return (
            self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        )

    def _loop(self) -> None:
        while True:
            first = self._next(None)
            if first is None:
                return
            batch, units = [first], first.size
            deadline = first.queued_at + self.max_wait
            stop = False
            while units < self.max_size:
                if self._alone():
                    break  # nobody else is on the way: waiting would only add latency
                try:
                    job = self._next(deadline - time.perf_counter())
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if units + job.size > self.max_size:
                    self._held = job  # starts the next batch
                    break
                batch.append(job)
                units += job.size
            self._pass(batch, units)
            if stop:
                while (rest := self._take_rest()) is not None:
                    self._pass([rest], rest.size)
                return

    def _alone(self) -> bool:
        return self._coming is not None and self._held is None and self._queue.empty() and self._coming() == 0

    def _take_rest(self) -> _Job[T, R] | None:
        try:
            return self._next(0)
        except queue.Empty:
            return None

    def _pass(self, batch: list[_Job[T, R]], units: int) -> None:
        started = time.perf_counter()
        try:
            results = self._run([job.item for job in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the batch function answered {len(results)} of {len(batch)} items")
        except BaseException as exc:  # every waiting request learns why; the worker goes on
            for job in batch:
                job.future.set_exception(exc)
            return
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)
        if self._on_batch is not None:
            self._on_batch(
                BatchStats(len(batch), units, started - batch[0].queued_at, time.perf_counter() - started)
            )
