"""Confidence intervals by resampling *source files* (segments of one recording are not
independent: resampling segments would make intervals too narrow).

Each resample draws the evaluated files with replacement and takes all segments of each drawn
file; the statistics are scikit-learn's. The generator is seeded by a stable hash of the seed and
the files, so an interval is the same on every run. The 95 % interval is the 2.5th and 97.5th
percentile of the resampled values (percentile bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sec_assets.core.evaluation.metrics import quiet
from sec_assets.core.hashing import stable_seed

STATISTICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_map")


def headline(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The bootstrapped figures of one sample: accuracy, balanced accuracy, macro-F1, macro mAP
    (macro over the classes present in ``y_true``)."""
    from sklearn import metrics  # on first use (see metrics.evaluate)

    y_pred = proba.argmax(axis=1)
    present = np.unique(y_true)
    onehot = y_true[:, None] == present[None, :]
    ap = (
        metrics.average_precision_score(onehot, proba[:, present], average="macro")
        if len(present) > 1
        else (metrics.average_precision_score(onehot[:, 0], proba[:, present[0]]) if len(present) else 0.0)
    )
    with quiet():
        balanced = float(metrics.balanced_accuracy_score(y_true, y_pred))
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "macro_f1": float(metrics.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "macro_map": float(ap),
    }


def file_groups(groups: Sequence[str]) -> tuple[list[str], list[np.ndarray]]:
    """The distinct files in order of first appearance and each file's row indices."""
    order: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        order.setdefault(g, []).append(i)
    return list(order), [np.asarray(v) for v in order.values()]


def file_bootstrap(
    y_true: np.ndarray, proba: np.ndarray, groups: Sequence[str], resamples: int, seed: int
) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of :func:`headline` over ``resamples`` file resamples."""
    if len(y_true) == 0:
        return {s: (float("nan"), float("nan")) for s in STATISTICS}
    files, rows = file_groups(groups)
    rng = np.random.default_rng(stable_seed(seed, "bootstrap", tuple(sorted(files))))
    values = {s: np.empty(resamples) for s in STATISTICS}
    with quiet():  # a resample holding one class is legitimate; scikit-learn warns on it
        for b in range(resamples):
            idx = np.concatenate([rows[i] for i in rng.integers(0, len(files), len(files))])
            for s, v in headline(y_true[idx], proba[idx]).items():
                values[s][b] = v
    return {s: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for s, v in values.items()}


def paired_difference(
    y_true: np.ndarray,
    proba_new: np.ndarray,
    proba_old: np.ndarray,
    groups: Sequence[str],
    resamples: int,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    """(observed, 2.5th, 97.5th percentile) of ``headline(new) − headline(old)`` over file resamples
    drawn once for both models (paired: the same files in each resample), per statistic."""
    observed_new, observed_old = headline(y_true, proba_new), headline(y_true, proba_old)
    files, rows = file_groups(groups)
    rng = np.random.default_rng(stable_seed(seed, "paired", tuple(sorted(files))))
    values = {s: np.empty(resamples) for s in STATISTICS}
    with quiet():
        for b in range(resamples):
            idx = np.concatenate([rows[i] for i in rng.integers(0, len(files), len(files))])
            new, old = headline(y_true[idx], proba_new[idx]), headline(y_true[idx], proba_old[idx])
            for s in STATISTICS:
                values[s][b] = new[s] - old[s]
    return {
        s: (
            observed_new[s] - observed_old[s],
            float(np.percentile(values[s], 2.5)),
            float(np.percentile(values[s], 97.5)),
        )
        for s in STATISTICS
    }
