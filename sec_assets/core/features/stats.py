"""Feature matrices for the classifier: CLAP embedding ⊕ per-band mean and spread of the levels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.settings import SPLITS
from sec_assets.core.store import storage


@dataclass(frozen=True)
class FeatureSet:
    segment_keys: list[str]
    labels: np.ndarray  # index into classes
    splits: list[str]
    features: np.ndarray  # (n, 1024 + 2·bands) float64
    classes: list[str]
    source_sha256: list[str] = field(default_factory=list)

    def mask(self, split: str) -> np.ndarray:
        return np.array([s == split for s in self.splits], dtype=bool)


def spectrogram_stats(levels: np.ndarray, n_frames: int, n_bands: int) -> np.ndarray:
    """Mean and standard deviation over frames of each band's level (dB)."""
    frames = levels.reshape(n_frames, n_bands).astype(np.float64)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def load_features(home: Path, octave: int, class_keys: Sequence[str], splits: Sequence[str]) -> FeatureSet:
    """Features and labels of the segments whose files are in ``splits`` — and only those: the
    split filter is applied to the ``splits`` table before any feature is joined, so a caller can
    read nothing else (which splits each asset reads is recorded in its lineage)."""
    classes = sorted(class_keys)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split(s) {unknown}; the splits are {SPLITS}")
    assignment = pl.concat(
        [storage.read_partition(home, "splits", {"audio_class": k}) for k in classes], how="vertical"
    ).filter(pl.col("split").is_in(list(splits)))
    embeddings = pl.concat(
        [
            storage.read_partition(
                home,
                "clap_embeddings",
                {"audio_class": k},
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
                {"audio_class": k, "octave": str(octave)},
                ["segment_key", "n_frames", "n_bands", "levels_db"],
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
    emb = np.asarray(joined["embedding"].to_numpy(), dtype=np.float64).reshape(joined.height, -1)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
    stats = (
        np.stack(
            [
                spectrogram_stats(np.asarray(levels), nf, nb)
                for levels, nf, nb in zip(
                    joined["levels_db"], joined["n_frames"], joined["n_bands"], strict=True
                )
            ]
        )
        if joined.height
        else np.zeros((0, 0))
    )
    features = np.hstack([emb, stats]) if joined.height else np.zeros((0, 0))
    index = {k: i for i, k in enumerate(classes)}
    return FeatureSet(
        segment_keys=joined["segment_key"].to_list(),
        labels=np.array([index[k] for k in joined["partition_key"]], dtype=np.int64),
        splits=joined["split"].to_list(),
        features=features,
        classes=classes,
        source_sha256=joined["source_sha256"].to_list(),
    )
