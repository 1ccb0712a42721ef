"""The population stability index (PSI) of two histograms over the same bins.

``PSI = Σ_i (o_i − e_i) · ln(o_i / e_i)``, where ``o_i`` and ``e_i`` are the shares of bin ``i`` in
the observed and the expected (reference) counts. It is the symmetric Kullback–Leibler divergence
``KL(o‖e) + KL(e‖o)``: 0 for the same shares, growing as they part. The rule of thumb of credit
scoring, where it comes from: below 0.1 no real change, 0.1–0.25 a moderate shift, above 0.25 a
large one (the drift check's threshold is the setting ``drift_psi_threshold``, default 0.2).

An empty bin has share 0 and ``ln 0`` is undefined: a share below :data:`EPSILON` counts as
:data:`EPSILON` (the shares are not renormalised after). A bin empty on both sides then adds 0;
a bin empty on one side only adds about ``s · ln(s / 10⁻⁴)`` for the other side's share ``s``
(0.1 → 0.69), so a class never predicted on the test set that shows up in use is seen.

Written here by hand (a few lines of numpy): the one formula of the drift watch not taken from a
library. Top-1 confidences fall in :data:`CONFIDENCE_BINS`, ten equal bins on [0, 1]
(``numpy.histogram``: each bin holds its left edge, the last also 1.0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

EPSILON = 1e-4  # the share an empty bin counts as
CONFIDENCE_BINS = np.linspace(0.0, 1.0, 11)  # fixed: days and references share their bins


def psi(observed: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """PSI of two histograms (counts or shares over the same bins); NaN when either is empty."""
    o = np.asarray(observed, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if o.shape != e.shape:
        raise ValueError(f"histograms of different bins: {o.shape} and {e.shape}")
    if o.sum() <= 0 or e.sum() <= 0:
        return float("nan")
    o = np.maximum(o / o.sum(), EPSILON)
    e = np.maximum(e / e.sum(), EPSILON)
    return float(np.sum((o - e) * np.log(o / e)))


def confidence_counts(confidences: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts of top-1 confidences in :data:`CONFIDENCE_BINS` (values outside [0, 1] clipped)."""
    values = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    return np.histogram(values, bins=CONFIDENCE_BINS)[0]


def confidence_psi(observed: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray) -> float:
    """PSI of two sets of top-1 confidences over :data:`CONFIDENCE_BINS`."""
    return psi(confidence_counts(observed), confidence_counts(expected))


def class_psi(observed: Mapping[str, int], expected: Mapping[str, int]) -> float:
    """PSI of two class-frequency tables over the union of their classes (a class missing on one
    side has count 0 there)."""
    classes = sorted(set(observed) | set(expected))
    return psi([observed.get(c, 0) for c in classes], [expected.get(c, 0) for c in classes])
