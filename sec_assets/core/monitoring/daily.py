"""Day by day, what the champions predicted in use against their test sets: the rows of the
``prediction_drift`` table.

Two sources of top-1 predictions, brought to one frame (:data:`TOP1_SCHEMA`):

- ``served``: the ``served_requests`` log, one row per request × octave × window with its top-1
  label; dated by the UTC day the request came in (its ``day``); a unit is a request.
- ``inbox``: the ``inbox_predictions`` rows of rank 1 (a window's top-1 label); a unit is a
  recording. A recording is dated by the UTC day of its done marker's modification time
  (``predictions/.done/<sha256>.json``): the marker is written when the recording is labelled, and
  rewritten when a later pass finds the file touched but unchanged or labels it again (a new
  champion), so the day is when its current labels were made. A partition without a marker (a pass
  stopped before marking it) is left out, as the inbox itself leaves it for the next pass. A window
  whose top-1 probability is below ``min_confidence`` has no row there, so the inbox is compared
  with the reference's segments at or above that floor (:meth:`.reference.Reference.above`).

Per (source, octave, day): the units and windows, the mean top-1 confidence, and the PSI
(:mod:`.psi`) of the day's top-1 class frequencies and of its top-1 confidences against the
octave's champion on its test set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.inference import inbox, inbox_run
from sec_assets.core.monitoring.psi import class_psi, confidence_psi
from sec_assets.core.monitoring.reference import Reference
from sec_assets.core.store import catalog
from sec_assets.core.store.schemas import TABLE_SCHEMAS

TABLE = "prediction_drift"
SCHEMA = TABLE_SCHEMAS[TABLE]
SERVED, INBOX = "served", "inbox"
TOP1_SCHEMA = pl.Schema(
    {
        "source": pl.String,
        "octave": pl.Int64,
        "day": pl.String,
        "unit": pl.String,  # the request (served) or the recording's content hash (inbox)
        "model_version": pl.String,
        "label_key": pl.String,
        "probability": pl.Float64,
    }
)


def served_top1(served: pl.DataFrame) -> pl.DataFrame:
    """The ``served_requests`` rows as top-1 rows (rows without a label left out)."""
    return (
        served.select(
            pl.lit(SERVED).alias("source"),
            "octave",
            "day",
            pl.col("request_id").alias("unit"),
            "model_version",
            pl.col("top1_label_key").alias("label_key"),
            pl.col("top1_probability").alias("probability"),
        )
        .drop_nulls(["label_key", "probability"])
        .cast(TOP1_SCHEMA)
    )


def marker_days(out: Path) -> dict[str, str]:
    """Content hash → UTC day of its done marker's modification time (``out``: the inbox's
    ``predictions`` folder)."""
    days = {}
    for sha in inbox.done_shas(out):
        try:
            mtime = inbox.marker(out, sha).stat().st_mtime
        except FileNotFoundError:  # unmarked since it was listed
            continue
        days[sha] = dt.datetime.fromtimestamp(mtime, dt.UTC).strftime("%Y-%m-%d")
    return days


def inbox_top1(predictions: pl.DataFrame, days: Mapping[str, str]) -> pl.DataFrame:
    """The rank-1 ``inbox_predictions`` rows of the recordings with a marker, dated by ``days``."""
    dated = pl.DataFrame(
        {"recording_sha256": list(days), "day": list(days.values())},
        schema={"recording_sha256": pl.String, "day": pl.String},
    )
    return (
        predictions.filter(pl.col("rank") == 1)
        .join(dated, on="recording_sha256", how="inner")
        .select(
            pl.lit(INBOX).alias("source"),
            "octave",
            "day",
            pl.col("recording_sha256").alias("unit"),
            "model_version",
            "label_key",
            "probability",
        )
        .cast(TOP1_SCHEMA)
    )


def read_inbox_top1(home: Path) -> pl.DataFrame:
    """:func:`inbox_top1` of the inbox labelled under ``home`` (its catalog view ``predictions``)."""
    columns = ["recording_sha256", "octave", "model_version", "rank", "label_key", "probability"]
    predictions = catalog.select(home, "predictions", columns, where="rank = 1")
    return inbox_top1(predictions, marker_days(home / inbox_run.OUT))


def _versions(values: list[str]) -> str:
    return ", ".join(sorted(set(values), key=lambda v: (len(v), v)))  # "2" before "10"


def daily_drift(
    top1: pl.DataFrame, references: Mapping[int, Reference], floors: Mapping[str, float] | None = None
) -> pl.DataFrame:
    """One row per (source, octave, day) of ``top1`` (:data:`TOP1_SCHEMA`) with the octave's
    reference, in that order; rows of an octave without a reference are left out. ``floors``: a
    source's confidence floor (the inbox's ``min_confidence``): its reference keeps the segments at
    or above it."""
    floors = floors or {}
    rows = []
    groups = top1.partition_by(["source", "octave", "day"], as_dict=True, maintain_order=True)
    for (source, octave, day), part in sorted(groups.items()):
        ref = references.get(int(octave))
        if ref is None:
            continue
        floor = float(floors.get(str(source), 0.0))
        expected = ref.above(floor)
        counts = dict(part.group_by("label_key").len().iter_rows())
        top_key, top_n = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        confidences = part["probability"].to_numpy()
        units = part["unit"].n_unique()
        rows.append(
            {
                "source": source,
                "octave": octave,
                "day": day,
                "model": ref.model,
                "model_versions": _versions(part["model_version"].fill_null("?").to_list()),
                "reference_version": ref.version,
                "requests": units if source == SERVED else None,
                "recordings": units if source == INBOX else None,
                "windows": part.height,
                "mean_top1": float(np.mean(confidences)),
                "class_psi": class_psi(counts, expected.class_counts()),
                "confidence_psi": confidence_psi(confidences, expected.confidences),
                "classes_seen": len(counts),
                "top_label_key": top_key,
                "top_label_share": top_n / part.height,
                "confidence_floor": floor,
                "reference_segments": expected.segments,
            }
        )
    return pl.DataFrame(rows, schema=SCHEMA)


def breaches(daily: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """The rows whose class or confidence PSI is above ``threshold`` (NaN, no reference left above
    the floor, never counts)."""
    return daily.filter((pl.col("class_psi") > threshold) | (pl.col("confidence_psi") > threshold))


def describe(rows: pl.DataFrame, limit: int = 10) -> str:
    """``source 1/n day: class PSI …, confidence PSI …`` of each row, ``limit`` at most."""
    parts = [
        f"{r['source']} 1/{r['octave']} {r['day']}: class PSI {r['class_psi']:.3f}, "
        f"confidence PSI {r['confidence_psi']:.3f} ({r['windows']} windows)"
        for r in rows.head(limit).iter_rows(named=True)
    ]
    if rows.height > limit:
        parts.append(f"… and {rows.height - limit} more")
    return "; ".join(parts)
