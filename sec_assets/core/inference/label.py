"""One recording labelled by every champion: windows → features → probabilities → the top-k rows
of the ``predictions`` table (one row per window, model and rank)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from sec_assets.core.audio.segments import SegmentParams, SourceFile
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.tables import top_k
from sec_assets.core.inference.windows import recording_windows
from sec_assets.core.store.catalog import TABLE_SCHEMAS
from sec_assets.core.tracking.registry import score

PREDICTION_COLUMNS = TABLE_SCHEMAS["inbox_predictions"]


@dataclass(frozen=True)
class Champion:
    """A registered model version to label with (loaded through MLflow)."""

    octave: int
    name: str
    version: str
    model: Any


@dataclass
class Labelled:
    rows: pl.DataFrame  # PREDICTION_COLUMNS
    windows: int
    failures: list[dict[str, str]]


def label_recording(
    source: SourceFile,
    params: SegmentParams,
    featurizer: Featurizer,
    champions: Sequence[Champion],
    names: Mapping[str, str],
    k: int,
    min_confidence: float,
    batch: int = 16,
) -> Labelled:
    """Every window of ``source`` scored by each champion; ``names``: class key → original name."""
    parts: list[pl.DataFrame] = []
    failures: list[dict[str, str]] = []
    windows = 0
    for rows in recording_windows(source, params, batch):
        data, failed = featurizer.features(rows)
        failures += failed
        windows += rows.height
        meta = rows.select("segment_key", "window", "start_s", "end_s")
        for champion in champions:
            d = data[champion.octave]
            if not len(d):
                continue
            proba, classes = score(champion.model, d)
            kept = meta.filter(pl.col("segment_key").is_in(d.segment_keys))
            order = {key: i for i, key in enumerate(kept["segment_key"])}
            idx = np.array([order[key] for key in d.segment_keys])
            table = top_k(
                proba,
                classes,
                kept["window"].to_numpy()[idx].tolist(),
                kept["start_s"].to_numpy()[idx].tolist(),
                kept["end_s"].to_numpy()[idx].tolist(),
                k,
                min_confidence,
            )
            parts.append(
                table.rename({"label": "label_key", "window": "window_index"}).with_columns(
                    pl.col("label_key").replace_strict(names, default=pl.col("label_key")).alias("label"),
                    pl.lit(source.sha256).alias("recording_sha256"),
                    pl.lit(str(source.path)).alias("path"),
                    pl.lit(champion.octave).alias("octave"),
                    pl.lit(champion.name).alias("model"),
                    pl.lit(champion.version).alias("model_version"),
                )
            )
    frame = (
        pl.concat(parts).select(list(PREDICTION_COLUMNS)).cast(PREDICTION_COLUMNS)  # type: ignore[arg-type]
        if parts
        else pl.DataFrame(schema=PREDICTION_COLUMNS)
    )
    return Labelled(frame.sort("octave", "window_index", "rank"), windows, failures)
