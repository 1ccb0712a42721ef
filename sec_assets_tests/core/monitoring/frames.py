"""Test data of the drift watch: an evaluation's test predictions, served rows, inbox rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

CLASSES = ("a", "b", "c")
# the reference: 6 test segments predicted "a" at 0.95, 4 predicted "b" at 0.75
REFERENCE = [("a", 0.95)] * 6 + [("b", 0.75)] * 4


def predictions_frame(top1: Sequence[tuple[str, float]], classes: Sequence[str] = CLASSES) -> pl.DataFrame:
    """A ``test_predictions.parquet`` frame whose rows have these (top-1 class, probability); the
    rest of each row's mass is spread evenly over the other classes."""
    rows = []
    for i, (label, p) in enumerate(top1):
        rest = (1.0 - p) / (len(classes) - 1)
        rows.append(
            {
                "segment_key": f"seg{i}",
                "source_sha256": f"file{i % 3}",
                "label": label,
                "predicted": label,
                "probabilities": [p if c == label else rest for c in classes],
            }
        )
    schema = {
        "segment_key": pl.String,
        "source_sha256": pl.String,
        "label": pl.String,
        "predicted": pl.String,
        "probabilities": pl.List(pl.Float64),
    }
    return pl.DataFrame(rows, schema=schema)


def served_rows(
    request: str, day: str, windows: Sequence[tuple[str, float]], octave: int = 3, version: str = "1"
) -> list[dict[str, Any]]:
    """``served_requests`` rows of one request on ``day`` (noon UTC), one per (label, probability)."""
    at = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")
    return [
        {
            "request_id": request,
            "received_at": at,
            "day": day,
            "octave": octave,
            "model": f"sec-classifier-oct{octave}",
            "model_version": version,
            "window_index": i,
            "start_s": float(i),
            "end_s": float(i + 1),
            "top1_label": label.upper(),
            "top1_label_key": label,
            "top1_probability": p,
            "windows": len(windows),
            "latency_ms": 50.0,
            "window_seconds": 1.0,
            "hop_seconds": 1.0,
        }
        for i, (label, p) in enumerate(windows)
    ]


def inbox_rows(
    sha: str, windows: Sequence[tuple[str, float]], octave: int = 3, version: str = "1"
) -> pl.DataFrame:
    """``inbox_predictions`` rows of one recording: per window its label at rank 1 and a runner-up
    ("c", 0.01) at rank 2 (which the drift watch must ignore)."""
    rows = []
    for i, (label, p) in enumerate(windows):
        for rank, (key, prob) in enumerate([(label, p), ("c", 0.01)], start=1):
            rows.append(
                {
                    "recording_sha256": sha,
                    "path": f"/inbox/{sha}.wav",
                    "window_index": i,
                    "start_s": float(i),
                    "end_s": float(i + 1),
                    "octave": octave,
                    "model": f"sec-classifier-oct{octave}",
                    "model_version": version,
                    "rank": rank,
                    "label": key.upper(),
                    "label_key": key,
                    "probability": prob,
                    "window_seconds": 1.0,
                    "hop_seconds": 1.0,
                }
            )
    return pl.DataFrame(rows)
