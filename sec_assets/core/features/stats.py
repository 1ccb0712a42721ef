"""Feature matrices for the classifier: CLAP embedding ⊕ per-band mean and spread of the levels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.store import storage


@dataclass(frozen=True)
class FeatureSet:
    segment_keys: list[str]
    labels: np.ndarray  # index into classes
    splits: list[str]
    features: np.ndarray  # (n, 1024 + 2·bands) float64
    classes: list[str]


def spectrogram_stats(levels: np.ndarray, n_frames: int, n_bands: int) -> np.ndarray:
    """Mean and standard deviation over frames of each band's level (dB)."""
    frames = levels.reshape(n_frames, n_bands).astype(np.float64)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


def load_features(home: Path, octave: int, splits: pl.DataFrame, class_keys: Sequence[str]) -> FeatureSet:
    """Join the split assignment with embeddings and spectrograms of every class."""
    classes = sorted(class_keys)
    embeddings = pl.concat(
        [
            storage.read_partition(home, "clap_embeddings", {"audio_class": k}, ["segment_key", "embedding"])
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
        splits.select("segment_key", "partition_key", "split")
        .join(embeddings, on="segment_key", how="inner")
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
    )
