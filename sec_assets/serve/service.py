"""The service without HTTP: a clip in, an answer out; corrections filed; the models followed.

One :class:`Service` per process and home. A request takes the current served set once
(:class:`~sec_assets.core.serving.models.ModelSlot`), keeps the posted bytes under its request id,
grades them by the manifest's rules, cuts the set's windows with the training segmenter and waits
for the dynamic batcher's pass; the answer is built from its share of the pass, kept beside the
clip (so a correction can name it), sampled for review, logged to ``served_requests`` and counted
in the metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sec_assets.core.audio.manifest import discover_classes
from sec_assets.core.devices import use_threads
from sec_assets.core.serving import loading
from sec_assets.core.serving.answer import Share, answer, log_rows, score_batch, top1
from sec_assets.core.serving.batching import Batcher, BatchStats
from sec_assets.core.serving.clips import ClipLimits, ClipRefused, clip_windows, suffix_for, take_clip
from sec_assets.core.serving.keep import (
    Correction,
    Kept,
    Recent,
    in_review_sample,
    keep_for_review,
    write_correction,
)
from sec_assets.core.serving.models import ModelSlot, ServedModels
from sec_assets.core.serving.request_log import RequestLog, day_of
from sec_assets.core.settings import Settings
from sec_assets.serve.metrics import Metrics

log = logging.getLogger("sec_assets.serve")

LOG_FLUSH_SECONDS = 30.0  # and every RequestLog.flush_rows rows, and at shutdown


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        svc = settings.service
        self.root = settings.home / "service"
        self.recent = Recent(self.root / "recent", svc.serve_keep_requests)
        self.review = self.root / "review"
        self.set_aside = self.root / "corrections"
        self.requests_log = RequestLog(settings.home)
        self.metrics = Metrics()
        self.limits = ClipLimits(int(svc.serve_max_upload_mb * 1_000_000), svc.serve_max_clip_seconds)
        self.policy = settings.file_policy()
        self.slot = ModelSlot(
            lambda: loading.lookup(settings),
            lambda versions, before: loading.build(settings, versions, before),
            on_swap=self._swapped,
        )
        self.batcher: Batcher[tuple[ServedModels, Any], Share] = Batcher(
            score_batch,
            svc.serve_max_batch_windows,
            svc.serve_max_wait_ms / 1000,
            on_batch=self._batched,
            coming=lambda: self._preparing,
            name="sec-batcher",
        )
        self._preparing = 0  # requests between arrival and their submission to the batcher
        self._preparing_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.started_at = time.time()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load the served set (a home without a champion starts, unready, and keeps looking)."""
        loading.use_registry(self.settings)
        if self.settings.torch_threads:
            use_threads(self.settings.torch_threads)
        self.slot.refresh()
        self.slot.follow(self.settings.serve_poll_seconds)
        self._flusher = threading.Thread(target=self._flush_loop, name="sec-request-log", daemon=True)
        self._flusher.start()

    def stop(self) -> None:
        self._stop.set()
        self.slot.stop()
        self.batcher.stop()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        self.requests_log.flush()

    def _flush_loop(self) -> None:
        while not self._stop.wait(LOG_FLUSH_SECONDS):
            try:
                self.requests_log.flush()
            except OSError as exc:  # a full disk must not stop the service; the rows wait
                log.warning("could not write served_requests: %s", exc)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        served = self.slot.current
        state: dict[str, Any] = {
            "ready": served is not None,
            "models": served.describe() if served is not None else [],
            "classes": sorted(set(served.names.values())) if served is not None else [],
            "last_refresh_error": self.slot.last_error,
        }
        return served is not None, state

    # -- requests -----------------------------------------------------------------------------
    def classify(
        self, data: bytes, filename: str | None = None, content_type: str | None = None, k: int | None = None
    ) -> dict[str, Any]:
        started = time.perf_counter()
        received = dt.datetime.now(dt.UTC)
        served = self.slot.current
        if served is None:
            raise ClipRefused(503, f"no model is served yet ({self.slot.last_error or 'loading'})")
        top = self.settings.top_k if k is None else k
        if top < 1:
            raise ClipRefused(400, f"top_k must be at least 1, got {top}")
        request_id = uuid.uuid4().hex
        self._prepare(+1)
        prepared = False
        try:
            clip = take_clip(
                data,
                suffix_for(filename, content_type),
                request_id,
                self.recent.folder,
                self.policy,
                self.limits,
            )
            try:
                rows = clip_windows(clip, served.params)
                cut = time.perf_counter()
                self._prepare(-1)  # before the submit: the batcher must not wait for this request itself
                prepared = True
                future = self.batcher.submit((served, rows), size=rows.height)
            except BaseException:
                self.recent.forget(clip.path)
                raise
        finally:
            if not prepared:
                self._prepare(-1)
        try:
            share = future.result()
        except BaseException:
            self.recent.forget(clip.path)
            raise
        scored = time.perf_counter()
        body = answer(share, top, self.settings.min_confidence)
        if not body["results"]:
            self.recent.forget(clip.path)
            reasons = (
                "; ".join(sorted({f["reason"] for f in body["left_out"]})) or "no window could be scored"
            )
            raise ClipRefused(422, f"no window could be featurized: {reasons}")
        latency_ms = (time.perf_counter() - started) * 1000
        params = served.params
        review = in_review_sample(request_id, self.settings.review_fraction)
        body = {
            "request_id": request_id,
            "received_at": received.isoformat(),
            "clip": {
                "sha256": clip.source.sha256,
                "duration_s": round(clip.duration_s, 6),
                "sample_rate": clip.sample_rate,
                "channels": clip.channels,
                "windows": rows.height,
            },
            "window": {
                "seconds": params.segment_seconds,
                "hop_seconds": params.hop_seconds,
                "min_seconds": params.min_segment_seconds,
                "source": served.window_source,
            },
            "models": [
                {"octave": c.octave, "model": c.name, "model_version": c.version} for c in served.champions
            ],
            **body,
            "timings_ms": {
                "prepare": round((cut - started) * 1000, 2),
                "featurize_and_score": round((scored - cut) * 1000, 2),
                "total": round(latency_ms, 2),
            },
            "review_sample": review,
        }
        self.recent.remember(request_id, body)
        if review:
            keep_for_review(self.review, day_of(received), clip.path, body)
            self.metrics.review.inc()
        self.requests_log.add(log_rows(share, request_id, received, day_of(received), latency_ms))
        self._count(share, latency_ms)
        return body

    def _prepare(self, step: int) -> None:
        with self._preparing_lock:
            self._preparing += step

    def feedback(self, correction: Correction) -> Kept:
        clip = self.recent.clip(correction.request_id)
        answer_ = self.recent.answer(correction.request_id)
        if clip is None or answer_ is None:
            raise LookupError(
                f"no recent request {correction.request_id!r}: only the last {self.recent.keep} requests "
                "(serve_keep_requests) can be corrected"
            )
        table = self.settings.dataset_table is not None
        landing = None if table else self.settings.landing
        classes: dict[str, str] = {}
        served = self.slot.current
        if served is not None:
            classes.update(served.names)
        if landing is not None and landing.is_dir():
            classes.update(discover_classes(landing))
        kept = write_correction(
            correction,
            clip,
            answer_,
            landing,
            classes,
            self.set_aside,
            self.settings.feedback_new_classes,
            dt.datetime.now(dt.UTC).isoformat(),
        )
        self.metrics.feedback.labels(str(kept.into_training).lower()).inc()
        return kept

    # -- metrics ------------------------------------------------------------------------------
    def _count(self, share: Share, latency_ms: float) -> None:
        m = self.metrics
        m.latency.observe(latency_ms / 1000)
        names: Mapping[str, str] = share.served.names
        for part in share.parts:
            octave = str(part.champion.octave)
            labels, probs = top1(part)
            for label, p in zip(labels, probs, strict=True):
                m.predictions.labels(octave, names.get(label, label)).inc()
                m.confidence.labels(octave).observe(float(p))
            for shadow in (s for s in share.shadows if s.champion.octave == part.champion.octave):
                s_labels, s_probs = top1(shadow)
                for a, b, p in zip(labels, s_labels, s_probs, strict=False):
                    m.shadow.labels(octave, str(a == b).lower()).inc()
                    m.shadow_confidence.labels(octave).observe(float(p))

    def _batched(self, stats: BatchStats) -> None:
        self.metrics.batch_windows.observe(stats.units)
        self.metrics.batch_requests.observe(stats.items)

    def _swapped(self, before: ServedModels | None, new: ServedModels) -> None:
        self.metrics.served.clear()
        for v in new.versions:
            self.metrics.served.labels(str(v.octave), v.name, v.version, v.role).set(1)
        if before is not None:
            self.metrics.swaps.inc()
        was = ", ".join(f"{v.name} v{v.version}" for v in before.versions) if before else "nothing"
        now = ", ".join(f"{v.name} v{v.version} ({v.role})" for v in new.versions)
        log.info("serving %s (was %s)", now, was)
        if new.window_warning and (before is None or before.window_warning != new.window_warning):
            log.warning(new.window_warning)
