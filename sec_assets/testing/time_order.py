"""Spectrograms whose classes only the order of sounds in time tells apart.

Four classes, each a sequence of single-band sounds over bands 2–9, one band per step: up
(2, 3, …, 9), down (9, 8, …, 2), evens up then odds down (2, 4, 6, 8, 9, 7, 5, 3) and odds up then
evens down (3, 5, 7, 9, 8, 6, 4, 2). Every class visits each band once for the same time, so the
per-band statistics (mean, spread, percentiles over frames) have the same distribution in every
class: a band-statistics model is at chance (0.25), a model that sees time order is not. Per
example: a random start (circular, as repeat-padded clips wrap around), 1 or 2 frames per step, a
gain of ±6 dB and 3 dB of level noise. The generator is seeded by ``seed`` alone: the same data on
every machine.
"""

from __future__ import annotations

import numpy as np

from sec_assets.core.models.data import SegmentData

ORDERS = {
    "up": (2, 3, 4, 5, 6, 7, 8, 9),
    "down": (9, 8, 7, 6, 5, 4, 3, 2),
    "evens_up_odds_down": (2, 4, 6, 8, 9, 7, 5, 3),
    "odds_up_evens_down": (3, 5, 7, 9, 8, 6, 4, 2),
}
SPLIT_CYCLE = ("train", "train", "es", "valid")  # half train, a quarter each es and valid


def time_order_data(n_per_class: int = 48, frames: int = 32, bands: int = 12, seed: int = 0) -> SegmentData:
    """(n, frames, bands) levels in dB of the four :data:`ORDERS` classes, splits by row."""
    rng = np.random.default_rng(seed)
    classes = sorted(ORDERS)
    labels = np.repeat(np.arange(len(classes)), n_per_class)
    n = len(labels)
    levels = rng.normal(-60.0, 3.0, (n, frames, bands))
    for i, c in enumerate(labels):
        dwell = int(rng.integers(1, 3))
        start = int(rng.integers(0, frames))
        gain = rng.uniform(-6.0, 6.0)
        for step, band in enumerate(ORDERS[classes[c]]):
            for k in range(dwell):
                levels[i, (start + step * dwell + k) % frames, band] += 30.0 + gain
    return SegmentData(
        segment_keys=[f"{classes[c]}:{i:05d}" for i, c in enumerate(labels)],
        source_sha256=[f"{i:064x}" for i in range(n)],
        splits=[SPLIT_CYCLE[i % len(SPLIT_CYCLE)] for i in range(n)],
        labels=labels.astype(np.int64),
        classes=classes,
        embedding=np.zeros((n, 1024), dtype=np.float32),
        levels=levels.astype(np.float32),
        center_hz=[1000.0 * 2 ** (k / 3) for k in range(bands)],
    )
