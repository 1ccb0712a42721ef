"""Classification metrics (scikit-learn): accuracy, macro P/R/F0.5, mAP, per class, confusion."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics
from sklearn.preprocessing import label_binarize


def evaluate(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, macro precision / recall / F0.5, mAP, per-class figures and the confusion matrix."""
    labels = list(range(len(classes)))
    y_pred = proba.argmax(axis=1)
    if y_true.size == 0:
        return {"n": 0}
    p, r, f05, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, beta=0.5, labels=labels, zero_division=0
    )
    onehot = label_binarize(y_true, classes=labels)
    if len(labels) == 2:
        onehot = np.hstack([1 - onehot, onehot])
    present = onehot.sum(axis=0) > 0
    ap = np.full(len(labels), np.nan)
    for c in np.flatnonzero(present):
        ap[c] = metrics.average_precision_score(onehot[:, c], proba[:, c])
    return {
        "n": int(y_true.size),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "macro_precision": float(np.mean(p[present])) if present.any() else 0.0,
        "macro_recall": float(np.mean(r[present])) if present.any() else 0.0,
        "macro_f05": float(np.mean(f05[present])) if present.any() else 0.0,
        "mean_average_precision": float(np.nanmean(ap)) if present.any() else 0.0,
        "per_class": {
            cls: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f05": float(f05[i]),
                "average_precision": None if np.isnan(ap[i]) else float(ap[i]),
                "support": int(support[i]),
            }
            for i, cls in enumerate(classes)
        },
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
