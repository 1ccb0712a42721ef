"""Classification metrics (scikit-learn) and a human-readable report."""

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


def render_markdown(title: str, results: dict[str, dict[str, Any]], classes: list[str]) -> str:
    """The report a person reads: headline figures per split, per-class table, confusion matrix."""
    lines = [f"# {title}", ""]
    for split, res in results.items():
        lines += [f"## {split} (n = {res.get('n', 0)})", ""]
        if not res.get("n"):
            lines += ["no examples in this split", ""]
            continue
        lines += [
            f"accuracy {res['accuracy']:.3f} · macro precision {res['macro_precision']:.3f} · "
            f"macro recall {res['macro_recall']:.3f} · macro F0.5 {res['macro_f05']:.3f} · "
            f"mAP {res['mean_average_precision']:.3f}",
            "",
            "| class | precision | recall | F0.5 | AP | support |",
            "|---|---|---|---|---|---|",
        ]
        for cls in classes:
            c = res["per_class"][cls]
            ap = "–" if c["average_precision"] is None else f"{c['average_precision']:.3f}"
            lines.append(
                f"| {cls} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f05']:.3f} "
                f"| {ap} | {c['support']} |"
            )
        lines += [
            "",
            "confusion matrix (rows: true, columns: predicted, order as above):",
            "",
            "```",
        ]
        lines += [" ".join(f"{v:4d}" for v in row) for row in res["confusion_matrix"]]
        lines += ["```", ""]
    return "\n".join(lines)
