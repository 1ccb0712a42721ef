"""One recording labelled by every champion: windows → features → probabilities → the top-k rows
of the ``predictions`` table (one row per window, model and rank)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from sec_assets.core.audio.segments import SegmentParams, SourceFile
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.tables import top_k
from sec_assets.core.inference.windows import WINDOW_COLUMNS, recording_windows
from sec_assets.core.prefetch import prefetched
from sec_assets.core.store.schemas import TABLE_SCHEMAS
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
    source: SourceFile
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
    batch: int = 64,
) -> Labelled:
    """Every window of ``source`` scored by each champion; ``names``: class key → original name."""
    (done,) = label_recordings([source], params, featurizer, champions, names, k, min_confidence, batch)
    return done


def label_recordings(
    sources: Iterable[SourceFile],
    params: SegmentParams,
    featurizer: Featurizer,
    champions: Sequence[Champion],
    names: Mapping[str, str],
    k: int,
    min_confidence: float,
    batch: int = 64,
    prefetch: int = 2,
) -> Iterator[Labelled]:
    """Each recording of ``sources`` labelled, in order, as soon as its last window is scored.

    A pipeline: a background thread pulls ``sources`` (whatever grading the caller does there),
    decodes, resamples and cuts windows, and packs them into batches of ``batch`` windows across
    recording boundaries — short recordings share a batch, long ones stream through several —
    while this thread computes features and scores the batch before. Memory is bounded by
    ``prefetch`` batches, never by a recording's length; the scores do not depend on how windows
    fall into batches (the feature and model steps are batch-invariant, tested).
    """
    paths: dict[str, str] = {}

    def batches() -> Iterator[tuple[pl.DataFrame, list[SourceFile]]]:
        buf: list[pl.DataFrame] = []
        filled = 0
        finished: list[SourceFile] = []
        for source in sources:
            paths[source.sha256] = str(source.path)
            for rows in recording_windows(source, params, batch):
                while rows.height:
                    take = rows.head(batch - filled)
                    buf.append(take)
                    filled += take.height
                    rows = rows.slice(take.height)
                    if filled == batch:
                        yield pl.concat(buf), finished
                        buf, filled, finished = [], 0, []
            finished.append(source)
        if buf or finished:
            yield (pl.concat(buf) if buf else pl.DataFrame(schema=WINDOW_COLUMNS)), finished

    open_: dict[str, _Open] = {}
    for rows, finished in prefetched(batches(), lambda item: item, workers=1, prefetch=prefetch):
        if rows.height:
            for sha, count in rows.group_by("source_sha256").len().iter_rows():
                open_.setdefault(sha, _Open()).windows += count
            for part in _scored(rows, featurizer, champions, names, k, min_confidence, paths, open_):
                for (sha,), frame in part.partition_by("recording_sha256", as_dict=True).items():
                    open_.setdefault(str(sha), _Open()).parts.append(frame)
        for source in finished:
            done = open_.pop(source.sha256, _Open())
            frame = (
                pl.concat(done.parts)
                .with_columns(  # the window these rows were cut with
                    window_seconds=pl.lit(params.segment_seconds), hop_seconds=pl.lit(params.hop_seconds)
                )
                .select(list(PREDICTION_COLUMNS))
                .cast(PREDICTION_COLUMNS)  # type: ignore[arg-type]
                if done.parts
                else pl.DataFrame(schema=PREDICTION_COLUMNS)
            )
            yield Labelled(source, frame.sort("octave", "window_index", "rank"), done.windows, done.failures)


@dataclass
class _Open:
    """A recording whose windows are still being scored."""

    windows: int = 0
    parts: list[pl.DataFrame] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Scored:
    """One champion's probabilities on the windows of a batch whose features could be computed."""

    champion: Champion
    proba: np.ndarray  # (windows, classes), rows in the order of ``at``
    classes: list[str]
    at: pl.DataFrame  # the scored windows' rows (segment_key, source_sha256, window, start_s, end_s)


def score_windows(
    rows: pl.DataFrame, featurizer: Featurizer, champions: Sequence[Champion]
) -> tuple[list[Scored], list[dict[str, str]]]:
    """Every champion's probabilities on a batch of window rows (:data:`WINDOW_COLUMNS`, distinct
    segment keys), features computed once for all; and the windows left out (with the reason)."""
    data, failed = featurizer.features(rows)
    meta = rows.select("segment_key", "source_sha256", "window", "start_s", "end_s")
    scored = []
    for champion in champions:
        d = data[champion.octave]
        if not len(d):
            continue
        proba, classes = score(champion.model, d)
        kept = meta.filter(pl.col("segment_key").is_in(d.segment_keys))
        order = {key: i for i, key in enumerate(kept["segment_key"])}
        scored.append(Scored(champion, proba, classes, kept[[order[key] for key in d.segment_keys]]))
    return scored, failed


def _scored(
    rows: pl.DataFrame,
    featurizer: Featurizer,
    champions: Sequence[Champion],
    names: Mapping[str, str],
    k: int,
    min_confidence: float,
    paths: Mapping[str, str],
    open_: dict[str, _Open],
) -> Iterator[pl.DataFrame]:
    """The top-k rows of one batch of windows, per champion."""
    scored, failed = score_windows(rows, featurizer, champions)
    for failure in failed:
        open_.setdefault(failure["source_sha256"], _Open()).failures.append(failure)
    for s in scored:
        at = s.at
        table = top_k(
            s.proba,
            s.classes,
            list(range(at.height)),  # positions in the batch: windows of several recordings share it
            at["start_s"].to_list(),
            at["end_s"].to_list(),
            k,
            min_confidence,
        )
        yield table.with_columns(
            at["window"].gather(table["window"]).alias("window_index"),
            at["source_sha256"].gather(table["window"]).alias("recording_sha256"),
            pl.col("label").alias("label_key"),
            pl.col("label").replace_strict(names, default=pl.col("label")).alias("label"),
            pl.lit(s.champion.octave).alias("octave"),
            pl.lit(s.champion.name).alias("model"),
            pl.lit(s.champion.version).alias("model_version"),
        ).with_columns(pl.col("recording_sha256").replace_strict(paths, return_dtype=pl.String).alias("path"))
