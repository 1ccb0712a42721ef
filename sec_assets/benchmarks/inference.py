"""Inference throughput: a long recording labelled end to end vs the bare feature + model cost.

    python -m sec_assets.benchmarks.inference [--minutes 10] [--octave 3] [--models DIR]

A synthetic field recording (tones, chirps and noise bursts over background noise, 44.1 kHz WAV)
is labelled by ``label_recording`` — grading, streamed decoding, windows, the CLAP recipe of
``clap_embeddings``, the filterbank, a ``clap+octave_stats/mlp`` classifier through its pyfunc
class — and, separately, the same windows already decoded in memory go through the bare model
calls alone (``LoadedClap.embed`` on the prepared clips, ``fast_levels``, the classifier). Prints
both as a real-time factor (hours of audio per hour of wall time) and their ratio; then the same
for many short recordings (``--short-count`` × ``--short-seconds``) labelled in one stream by
``label_recordings``, whose windows are batched across recordings. The CLAP is
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
from sec_assets.core.features.clap_store import ensure_random_init_model
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import label_recording, label_recordings
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.core.models.data import SegmentData
from sec_assets.testing.tiny_champion import tiny_champion

RATE = 44100


def recording(minutes: float, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
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
    ap.add_argument("--short-count", type=int, default=120, help="short recordings of the second case")
    ap.add_argument("--short-seconds", type=float, default=10.0)
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
        champion = tiny_champion(data[args.octave], args.octave)
        trained = champion.model.inner.model
        d = data[args.octave]
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
        short = _short_recordings(Path(tmp), args, params, featurizer, champion, model, trained, d.center_hz)
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
    count, seconds, e2e_short, bare_short = short
    print(
        f"{count} recordings of {seconds:g} s, labelled in one stream (windows batched across recordings): "
        f"{e2e_short:.1f} s, real-time factor {count * seconds / e2e_short:.1f}×; bare {bare_short:.1f} s, "
        f"{count * seconds / bare_short:.1f}×; ratio {bare_short / e2e_short:.2f}"
    )


def _short_recordings(tmp, args, params, featurizer, champion, model, trained, center_hz):
    """Many short recordings (a field recorder's 10-s files): end to end in one stream vs bare."""
    count, seconds = args.short_count, args.short_seconds
    paths = []
    for i in range(count):
        path = tmp / f"short_{i:04d}.wav"
        recording(seconds / 60, path, seed=i + 1)
        paths.append(path)

    def sources():
        for path in paths:
            source, _ = grade(path, path.parent, FilePolicy())
            assert source is not None
            yield source

    started = time.perf_counter()
    done = list(label_recordings(sources(), params, featurizer, [champion], {}, 3, 0.1))
    e2e = time.perf_counter() - started
    assert len(done) == count
    windows = pl.concat([w for s in sources() for w in recording_windows(s, params)])
    clips = [clap.prepare_clip(decode_audio(a), RATE) for a in windows["audio"]]
    audio = np.stack([decode_audio(a) for a in windows["audio"]])
    started = time.perf_counter()
    flat = np.concatenate(clips)
    vectors = np.concatenate([model.embed(flat[i : i + 16]) for i in range(0, len(flat), 16)])
    lv = octave.fast_levels(audio, RATE, args.octave, 0.1, ref=octave.LEVEL_REFERENCES["20uPa"])
    trained.probabilities(
        SegmentData(
            segment_keys=list(windows["segment_key"]),
            source_sha256=list(windows["source_sha256"]),
            splits=["x"] * len(audio),
            labels=np.zeros(len(audio), dtype=np.int64),
            classes=trained.classes,
            embedding=vectors,
            levels=lv.astype(np.float32),
            center_hz=center_hz,
        )
    )
    return count, seconds, e2e, time.perf_counter() - started


if __name__ == "__main__":
    main()
