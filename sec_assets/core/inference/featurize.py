"""Features of inference windows by the steps' own functions — no second implementation.

CLAP vectors come from :func:`sec_assets.core.features.embedding.embed_segments` (the
``clap_embeddings`` step's prefetching, batching and per-window recipe), band levels from
:func:`sec_assets.core.features.spectrogram.spectrogram_shard` (the ``octave_spectrograms``
step's filterbank), both fed rows shaped like stored segments. A window whose features cannot be
computed is left out and reported, as in the steps; the other windows are unaffected.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.features import clap, embedding
from sec_assets.core.features.spectrogram import LevelParams, spectrogram_shard
from sec_assets.core.inference.windows import KEY_PREFIX
from sec_assets.core.models.data import SegmentData


@dataclass
class Featurizer:
    """What the models to be scored read: CLAP (``model`` is None when none reads embeddings)
    and the band levels of each octave resolution whose model is scored."""

    model: clap.LoadedClap | None
    levels: Sequence[LevelParams]
    spectrogram_device: str = "cpu"
    spectrogram_batch: int = 16
    forward_batch: int = 16
    workers: int = 2

    def features(self, rows: pl.DataFrame) -> tuple[dict[int, SegmentData], list[dict[str, str]]]:
        """Per octave the windows' features in ``rows`` order (the windows every feature could be
        computed for), and the windows left out (segment_key, source_sha256, reason)."""
        if not self.levels:
            raise ValueError("no octave resolution to score: the featurizer needs at least one")
        keys = rows["segment_key"].to_list()
        failures: list[dict[str, str]] = []
        vectors: dict[str, np.ndarray] = {}
        if self.model is not None:
            with tempfile.TemporaryDirectory(prefix="sec-infer-") as scratch:
                frame, stats = embedding.embed_segments(
                    self.model,
                    [rows.select("segment_key", "source_sha256", "sample_rate", "audio")],
                    previous=[],
                    shards=embedding.ResumeShards(Path(scratch)),
                    run_id="inference",
                    partition_key=KEY_PREFIX,
                    forward_batch=self.forward_batch,
                    workers=self.workers,
                )
            failures += stats.failures
            made = np.asarray(frame["embedding"].to_list(), np.float32)
            vectors = dict(zip(frame["segment_key"], made, strict=True))
        levels: dict[int, dict[str, np.ndarray]] = {}
        for params in self.levels:
            frame, failed = spectrogram_shard(
                rows, KEY_PREFIX, params, self.spectrogram_device, self.spectrogram_batch
            )
            failures += failed
            levels[params.n] = {
                k: np.asarray(v, dtype=np.float32).reshape(f, b)
                for k, v, f, b in zip(
                    frame["segment_key"], frame["levels_db"], frame["n_frames"], frame["n_bands"], strict=True
                )
            }
        bad = {f["segment_key"] for f in failures}
        ok = [
            i
            for i, k in enumerate(keys)
            if k not in bad
            and (self.model is None or k in vectors)
            and all(k in lv for lv in levels.values())
        ]
        out = {}
        for params in self.levels:
            lv = levels[params.n]
            out[params.n] = SegmentData(
                segment_keys=[keys[i] for i in ok],
                source_sha256=[rows["source_sha256"][i] for i in ok],
                splits=["inference"] * len(ok),
                labels=np.zeros(len(ok), dtype=np.int64),
                classes=[],
                embedding=np.stack([vectors[keys[i]] for i in ok])
                if self.model is not None and ok
                else np.zeros((len(ok), clap.EMBEDDING_DIM if self.model else 0), dtype=np.float32),
                levels=np.stack([lv[keys[i]] for i in ok])
                if lv and ok
                else np.zeros((len(ok), 0, 0), np.float32),
                center_hz=params.bands.center.tolist(),
            )
        return out, failures
