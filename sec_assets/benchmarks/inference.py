"""Inference throughput: a long recording labelled end to end vs the bare feature + model cost.

    python -m sec_assets.benchmarks.inference [--minutes 10] [--octave 3] [--models DIR]

A synthetic field recording (tones, chirps and noise bursts over background noise, 44.1 kHz WAV)
is labelled by ``label_recording`` — grading, streamed decoding, windows, the CLAP recipe of
``clap_embeddings``, the filterbank, a ``clap+octave_stats/mlp`` classifier through its pyfunc
class — and, separately, the same windows already decoded in memory go through the bare model
calls alone (``LoadedClap.embed`` on the prepared clips, ``fast_levels``, the classifier). Prints
both as a real-time factor (hours of audio per hour of wall time) and their ratio. The CLAP is
the seeded random-init 2023 model (the same architecture and cost as the real weights).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf
import torch

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams, decode_audio
from sec_assets.core.features import clap, octave
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion, label_recording
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import train_candidate
from sec_assets.core.tracking.pyfunc import SecClassifierModel
from sec_assets.testing.tiny_clap import ensure_random_init_model

RATE = 44100


class _Loaded:
    """A pyfunc-like wrapper (predict + metadata) around SecClassifierModel, no MLflow store."""

    def __init__(self, model):
        self.inner = SecClassifierModel()
        self.inner.model = model
        self.metadata = self

    def get_input_schema(self):
        return None

    def predict(self, rows):
        return self.inner.predict(None, rows)


def recording(minutes: float, path: Path) -> None:
    rng = np.random.default_rng(0)
    n = int(minutes * 60 * RATE)
    t = np.arange(n) / RATE
    x = 0.02 * rng.standard_normal(n)
    for start in range(0, int(minutes * 60), 4):
        a, b = start * RATE, min(n, (start + 1) * RATE)
        x[a:b] += 0.2 * np.sin(2 * np.pi * (300 + 50 * (start % 9)) * t[a:b])
    sf.write(path, x.astype(np.float32), RATE)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--octave", type=int, default=3)
    ap.add_argument("--models", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or Path(tmp) / "models"
        files = ensure_random_init_model(models)
        model = clap.load_clap(files, device="cpu")
        path = Path(tmp) / "field.wav"
        recording(args.minutes, path)
        params = WindowParams().segment_params(SegmentParams(sample_rate=RATE))
        levels = LevelParams(n=args.octave, sample_rate=RATE)
        featurizer = Featurizer(model, [levels])
        source, _ = grade(path, path.parent, FilePolicy())
        assert source is not None
        first = next(recording_windows(source, params))
        data, _ = featurizer.features(first)
        d = data[args.octave]
        fake = SegmentData(
            segment_keys=d.segment_keys * 4,
            source_sha256=d.source_sha256 * 4,
            splits=["train"] * (4 * len(d)),
            labels=np.arange(4 * len(d)) % 4,
            classes=["a", "b", "c", "d"],
            embedding=np.tile(d.embedding, (4, 1)),
            levels=np.tile(d.levels, (4, 1, 1)),
            center_hz=d.center_hz,
        )
        spec = {"features": "clap+octave_stats", "head": "mlp", "fit": {"epochs": 3}}
        trained = train_candidate(Candidate.model_validate(spec), fake, fake, 0)
        champion = Champion(args.octave, "bench", "1", _Loaded(trained))
        audio_s = args.minutes * 60
        started = time.perf_counter()
        labelled = label_recording(source, params, featurizer, [champion], {}, 3, 0.1)
        end_to_end = time.perf_counter() - started
        windows = pl.concat(list(recording_windows(source, params)))
        clips = [clap.prepare_clip(decode_audio(a), RATE) for a in windows["audio"]]
        audio = np.stack([decode_audio(a) for a in windows["audio"]])
        started = time.perf_counter()
        vectors = np.concatenate([model.embed(c) for c in clips])
        lv = octave.fast_levels(audio, RATE, args.octave, 0.1, ref=octave.LEVEL_REFERENCES["20uPa"])
        bare_data = SegmentData(
            segment_keys=list(windows["segment_key"]),
            source_sha256=list(windows["source_sha256"]),
            splits=["x"] * len(audio),
            labels=np.zeros(len(audio), dtype=np.int64),
            classes=trained.classes,
            embedding=vectors,
            levels=lv.astype(np.float32),
            center_hz=d.center_hz,
        )
        trained.probabilities(bare_data)
        bare = time.perf_counter() - started
    print(f"# inference benchmark — {args.minutes:g} min at {RATE} Hz, 1/{args.octave} octave, CPU")
    print(
        f"torch threads {args.threads}; windows: {labelled.windows} (5 s / 5 s), rows: {labelled.rows.height}"
    )
    print(
        "end to end (grade, decode, windows, CLAP, filterbank, classifier, tables): "
        f"{end_to_end:.1f} s, real-time factor {audio_s / end_to_end:.1f}×"
    )
    print(f"bare model calls on decoded windows: {bare:.1f} s, real-time factor {audio_s / bare:.1f}×")
    print(f"end to end / bare throughput: {bare / end_to_end:.2f}")


if __name__ == "__main__":
    main()
