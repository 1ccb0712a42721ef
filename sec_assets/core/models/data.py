"""What the models learn from: per segment its CLAP embedding, its band levels and its label, for
the segments of the requested splits only.

The split filter is applied to the ``splits`` table before anything else is joined, so a caller
can read nothing but what it asked for; each asset records the splits it asked for in its
lineage (``splits_read``), and only ``evaluation_report`` asks for ``test``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.audio.splits import AUGMENTED_SPLITS, SPLITS
from sec_assets.core.audio.views import view_masks
from sec_assets.core.store import storage
from sec_assets.core.store.schemas import AUDIO_CLASS, OCTAVE


@dataclass(frozen=True)
class SegmentData:
    segment_keys: list[str]
    source_sha256: list[str]
    splits: list[str]
    labels: np.ndarray  # (n,) int64: index into classes
    classes: list[str]  # partition keys, sorted
    embedding: np.ndarray  # (n, 1024) float32
    levels: np.ndarray  # (n, frames, bands) float32, dB
    center_hz: list[float]

    def __len__(self) -> int:
        return len(self.segment_keys)

    def mask(self, split: str) -> np.ndarray:
        return np.array([s == split for s in self.splits], dtype=bool)

    def subset(self, mask: np.ndarray) -> SegmentData:
        idx = np.flatnonzero(mask)
        return SegmentData(
            segment_keys=[self.segment_keys[i] for i in idx],
            source_sha256=[self.source_sha256[i] for i in idx],
            splits=[self.splits[i] for i in idx],
            labels=self.labels[idx],
            classes=self.classes,
            embedding=self.embedding[idx],
            levels=self.levels[idx],
            center_hz=self.center_hz,
        )


def split_rows(home: Path, class_keys: Sequence[str]) -> pl.DataFrame:
    """The ``splits`` rows (partition_key, source_sha256, split, and source_group and fold where
    the partition has them) of these classes."""
    return pl.concat(
        [storage.read_partition(home, "splits", {AUDIO_CLASS: k}) for k in sorted(class_keys)],
        how="diagonal_relaxed",  # partitions from before groups and folds have no such columns
    )


def load_segment_data(
    home: Path, octave: int, class_keys: Sequence[str], splits: Sequence[str], every_view: bool = False
) -> SegmentData:
    """The segments of ``class_keys`` whose files are in ``splits``, sorted by segment key: of a
    train/es file its training view, of a valid/test file its clean view
    (:func:`~sec_assets.core.audio.views.view_masks`, right for either ``segment_views`` layout);
    ``every_view``: every stored segment of those files (cross-validation picks views per fold)."""
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; the splits are {SPLITS}")
    classes = sorted(class_keys)
    assignment = split_rows(home, classes).filter(pl.col("split").is_in(list(splits)))
    embeddings = pl.concat(
        [
            storage.read_partition(
                home,
                "clap_embeddings",
                {AUDIO_CLASS: k},
                ["segment_key", "partition_key", "source_sha256", "embedding"],
            )
            for k in classes
        ]
    )
    spectra = pl.concat(
        [
            storage.read_partition(
                home,
                "octave_spectrograms",
                {AUDIO_CLASS: k, OCTAVE: str(octave)},
                ["segment_key", "n_frames", "n_bands", "center_hz", "levels_db"],
            )
            for k in classes
        ]
    )
    joined = (
        embeddings.join(
            assignment.select("partition_key", "source_sha256", "split"),
            on=["partition_key", "source_sha256"],
            how="inner",
        )
        .join(spectra, on="segment_key", how="inner")
        .sort("segment_key")
    )
    if not every_view and joined.height:
        training, clean = view_masks(joined["segment_key"].to_list())
        augmented_split = joined["split"].is_in(list(AUGMENTED_SPLITS)).to_numpy()
        joined = joined.filter(pl.Series(np.where(augmented_split, training, clean)))
    n = joined.height
    shapes = joined.select("n_frames", "n_bands").unique()
    if shapes.height > 1:
        raise ValueError(
            f"1/{octave}: spectrograms of different shapes {shapes.rows()} (segment_seconds or "
            "frame_seconds changed?): re-materialize octave_spectrograms"
        )
    frames, bands = shapes.row(0) if n else (0, 0)
    index = {k: i for i, k in enumerate(classes)}
    return SegmentData(
        segment_keys=joined["segment_key"].to_list(),
        source_sha256=joined["source_sha256"].to_list(),
        splits=joined["split"].to_list(),
        labels=np.array([index[k] for k in joined["partition_key"]], dtype=np.int64),
        classes=classes,
        embedding=np.asarray(joined["embedding"].to_numpy(), dtype=np.float32).reshape(n, -1),
        levels=np.stack([np.asarray(v, dtype=np.float32) for v in joined["levels_db"]]).reshape(
            n, frames, bands
        )
        if n
        else np.zeros((0, 0, 0), dtype=np.float32),
        center_hz=list(joined["center_hz"][0]) if n else [],
    )
