"""Classification metrics (scikit-learn): accuracy, balanced accuracy, macro P / R / F1 / F0.5,
macro mAP (one-vs-rest average precision), per class, the confusion matrix and its top cells.

Macro figures average over the classes present in the evaluated split (a class without examples
there has no recall to average); per-class rows list every class, under its original name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

EXAMPLES_PER_CONFUSION = 3
# legitimate on small or resampled splits (a class predicted but absent, one class present)
BENIGN = ("y_pred contains classes not in y_true", "A single label was found")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in BENIGN:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield


def evaluate(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    keys: Sequence[str] | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """The figures of one split; ``classes`` are display names (index = label), ``keys`` the
    segment keys (for example segments of the top confusions)."""
    from sklearn import metrics  # on first use: ≈ 1 s of every process that loads the definitions

    labels = list(range(len(classes)))
    if y_true.size == 0:
        return {"n": 0}
    y_pred = proba.argmax(axis=1)
    p, r, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    _, _, f05, _ = metrics.precision_recall_fscore_support(
        y_true, y_pred, beta=0.5, labels=labels, zero_division=0
    )
    present = support > 0
    ap = np.full(len(labels), np.nan)
    for c in np.flatnonzero(present):
        ap[c] = metrics.average_precision_score(y_true == c, proba[:, c])
    confusion = metrics.confusion_matrix(y_true, y_pred, labels=labels)
    off = [(int(confusion[i, j]), i, j) for i in labels for j in labels if i != j and confusion[i, j]]
    top_confusions = []
    for count, i, j in sorted(off, key=lambda t: (-t[0], t[1], t[2]))[:top]:
        where = np.flatnonzero((y_true == i) & (y_pred == j))[:EXAMPLES_PER_CONFUSION]
        top_confusions.append(
            {
                "true": classes[i],
                "predicted": classes[j],
                "count": count,
                "examples": [keys[k] for k in where] if keys is not None else [],
            }
        )

    with quiet():
        balanced = float(metrics.balanced_accuracy_score(y_true, y_pred))

    def macro(values: np.ndarray) -> float:
        return float(np.mean(values[present])) if present.any() else 0.0

    return {
        "n": int(y_true.size),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "macro_precision": macro(p),
        "macro_recall": macro(r),
        "macro_f1": macro(f1),
        "macro_f05": macro(f05),
        "mean_average_precision": float(np.nanmean(ap)) if present.any() else 0.0,
        "per_class": {
            cls: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f1[i]),
                "f05": float(f05[i]),
                "average_precision": None if np.isnan(ap[i]) else float(ap[i]),
                "support": int(support[i]),
            }
            for i, cls in enumerate(classes)
        },
        "confusion_matrix": confusion.tolist(),
        "top_confusions": top_confusions,
    }
