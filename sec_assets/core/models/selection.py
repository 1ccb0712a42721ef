"""Choosing an octave's model among its candidates: the best macro-F1 on the *validation* split
(scikit-learn), ties broken by the order of the ``candidates`` setting. The test split plays no
part: it is read by the evaluation alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def select(probabilities: Mapping[str, np.ndarray], labels: np.ndarray) -> tuple[str, list[dict[str, Any]]]:
    """(chosen candidate id, one row per candidate in the given order with its validation figures)."""
    if not probabilities:
        raise ValueError("no candidates to choose from")
    from sklearn.metrics import accuracy_score, f1_score  # on first use (see evaluation.metrics)

    rows: list[dict[str, Any]] = []
    for cid, proba in probabilities.items():
        pred = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=int)
        # macro over the classes present in truth or prediction (scikit-learn's default): a class
        # with no validation file does not count as a zero for every candidate
        # (no validation segments at all — a tiny class set — leaves every candidate at 0: the first wins)
        f1 = f1_score(labels, pred, average="macro", zero_division=0) if len(labels) else 0.0
        rows.append(
            {
                "candidate": cid,
                "valid_macro_f1": float(f1),
                "valid_accuracy": float(accuracy_score(labels, pred)) if len(labels) else 0.0,
                "valid_n": len(labels),
            }
        )
    best = max(range(len(rows)), key=lambda i: (rows[i]["valid_macro_f1"], -i))
    for i, row in enumerate(rows):
        row["selected"] = i == best
    return str(rows[best]["candidate"]), rows
