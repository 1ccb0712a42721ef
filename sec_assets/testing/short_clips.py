"""A spoken-digit-like dataset: many sub-second clips at 8 kHz, as in free spoken-digit corpora.

Each "digit" class is a pair of formant-like tones with its own pitch contour under a smooth
envelope; durations are uniform in 0.14–0.87 s. Every clip comes from a generator seeded by a
stable hash of (class, index), so the dataset is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sec_assets.core.hashing import stable_seed

RATE = 8000
SHORTEST, LONGEST = 0.14, 0.87


def digit_clip(digit: int, index: int, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(stable_seed(0, "digit", digit, index))
    seconds = rng.uniform(SHORTEST, LONGEST)
    t = np.arange(round(seconds * rate)) / rate
    f1 = 250.0 + 70.0 * digit * rng.uniform(0.97, 1.03)
    f2 = 900.0 + 210.0 * ((digit * 7) % 10) * rng.uniform(0.97, 1.03)
    glide = 1.0 + (digit - 4.5) * 0.04 * t / seconds  # each digit's own pitch contour
    envelope = np.sin(np.pi * t / seconds) ** 2
    x = 0.5 * np.sin(2 * np.pi * f1 * glide * t) + 0.3 * np.sin(2 * np.pi * f2 * glide * t)
    return (0.6 * envelope * x + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def write_spoken_digits(root: Path, classes: int = 10, per_class: int = 40) -> dict[str, int]:
    """``root/digit_<d>/<speaker>_<i>.wav`` for every digit; returns clips per class folder."""
    counts = {}
    for digit in range(classes):
        folder = root / f"digit_{digit}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sf.write(folder / f"speaker{i % 4}_{i:02d}.wav", digit_clip(digit, i), RATE, subtype="PCM_16")
        counts[folder.name] = per_class
    return counts
