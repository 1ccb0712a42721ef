"""Result tables of a recording: the top-k labels per window above a minimum confidence, as CSV
(``start_s, end_s, label, probability``, BirdNET-Analyzer's CSV shape) and as a Raven selection
table (tab-separated, Raven Pro's standard columns, one selection per window and label)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

RAVEN_COLUMNS = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
    "Label",
    "Probability",
)
RESULT_COLUMNS = {
    "window": pl.Int64,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
    "rank": pl.Int64,
    "label": pl.String,
    "probability": pl.Float64,
}


def top_k(
    proba: np.ndarray,
    classes: Sequence[str],
    windows: Sequence[int],
    starts: Sequence[float],
    ends: Sequence[float],
    k: int,
    min_confidence: float,
) -> pl.DataFrame:
    """Per window its ``k`` most probable labels with probability ≥ ``min_confidence``, in time
    order, then by rank (ties: the class listed first)."""
    if k < 1:
        raise ValueError(f"top_k must be at least 1, got {k}")
    rows = []
    for i in range(len(windows)):
        order = np.argsort(-proba[i], kind="stable")[:k]
        for rank, c in enumerate(order, start=1):
            if proba[i, c] >= min_confidence:
                rows.append((windows[i], starts[i], ends[i], rank, classes[c], float(proba[i, c])))
    return pl.DataFrame(rows, schema=RESULT_COLUMNS, orient="row")


def result_csv(table: pl.DataFrame) -> str:
    return table.select("start_s", "end_s", "label", "probability").write_csv(float_precision=4)


def raven_table(table: pl.DataFrame, low_hz: float, high_hz: float) -> str:
    """Raven Pro selection table text (``Selection``, ``View``, ``Channel``, begin/end time and
    frequency bounds, then ``Label`` and ``Probability``)."""
    lines = ["\t".join(RAVEN_COLUMNS)]
    for i, r in enumerate(table.iter_rows(named=True), start=1):
        lines.append(
            "\t".join(
                [
                    str(i),
                    "Spectrogram 1",
                    "1",
                    f"{r['start_s']:.4f}",
                    f"{r['end_s']:.4f}",
                    f"{low_hz:.1f}",
                    f"{high_hz:.1f}",
                    str(r["label"]),
                    f"{r['probability']:.4f}",
                ]
            )
        )
    return "\n".join(lines) + "\n"
