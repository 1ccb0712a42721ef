"""Training time per candidate and octave on a synthetic 100-class × 50-file feature set.

    python -m sec_assets.benchmarks.training [--classes 100] [--files 50] [--per-file 2] [--octaves 1,3,12]
        [--max-epochs K]  # cap the epochs (per-epoch figures of slow candidates)

No audio: per file a class-dependent CLAP-like embedding (1024-d, a class centre plus file and
segment noise) and a frames × bands spectrogram with a class-dependent band profile and onset
pattern, for the band count of each octave resolution (the octave filterbank's grid, 20 Hz–20 kHz).
Files are split by the product's own draw (``core/audio/splits``), and each default candidate is
trained by ``train_candidate`` exactly as ``trained_classifier`` does. Prints, per octave and
candidate: seconds, epochs, seconds per epoch and validation macro-F1; then the cost of one
bootstrap resample of the report and of logging one candidate to MLflow (SQLite store).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from sec_assets.core.audio.splits import assign_files
from sec_assets.core.evaluation.bootstrap import file_bootstrap
from sec_assets.core.features.octave import band_grid
from sec_assets.core.hashing import stable_seed
from sec_assets.core.models.candidates import DEFAULT_CANDIDATES, Candidate
from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import train_candidate
from sec_assets.core.models.selection import select

FRAMES = 70  # 7 s at 0.1 s frames


def synthetic(classes: int, files: int, per_file: int, bands: int, seed: int = 0) -> SegmentData:
    rng = np.random.default_rng(stable_seed(seed, "bench", classes, files, bands))
    centres = rng.normal(0, 0.1, size=(classes, 1024)).astype(np.float32)
    profiles = rng.normal(0, 2, size=(classes, bands)).astype(np.float32)
    keys, shas, labels, emb, lev = [], [], [], [], []
    for c in range(classes):
        for f in range(files):
            sha = f"{c:04d}{f:04d}".ljust(64, "0")
            file_offset = rng.normal(0, 0.8, 1024).astype(np.float32)
            for s in range(per_file):
                keys.append(f"c{c}:{sha[:20]}:0:{s}")
                shas.append(sha)
                labels.append(c)
                emb.append(centres[c] + file_offset + rng.normal(0, 1.0, 1024).astype(np.float32))
                onsets = (np.arange(FRAMES) % (5 + c % 7) == 0).astype(np.float32)[:, None] * 10
                lev.append(-60 + profiles[c][None, :] + onsets + rng.normal(0, 4, (FRAMES, bands)))
    assigned, _ = assign_files(
        pl.DataFrame({"partition_key": [f"c{c:03d}" for c in labels], "source_sha256": shas}).unique(),
        {"train": 0.6, "es": 0.1, "valid": 0.15, "test": 0.15},
        seed,
    )
    split_of = dict(zip(assigned["source_sha256"], assigned["split"], strict=True))
    return SegmentData(
        segment_keys=keys,
        source_sha256=shas,
        splits=[split_of[s] for s in shas],
        labels=np.asarray(labels, dtype=np.int64),
        classes=[f"c{c:03d}" for c in range(classes)],
        embedding=np.stack(emb),
        levels=np.stack(lev).astype(np.float32),
        center_hz=[0.0] * bands,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--files", type=int, default=50)
    ap.add_argument("--per-file", type=int, default=2)
    ap.add_argument("--octaves", default="1,3,12")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--max-epochs", type=int, default=0, help="cap every candidate's epochs (0: as configured)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# training benchmark — {platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    candidates = [Candidate.model_validate(c) for c in DEFAULT_CANDIDATES]
    if args.max_epochs:
        candidates = [
            c.model_copy(
                update={"fit": c.fit.model_copy(update={"epochs": min(c.fit.epochs, args.max_epochs)})}
            )
            for c in candidates
        ]
    for n in [int(o) for o in args.octaves.split(",")]:
        bands = len(band_grid(n, 44100))
        data = synthetic(args.classes, args.files, args.per_file, bands)
        train, es, valid = (data.subset(data.mask(s)) for s in ("train", "es", "valid"))
        print(f"\n1/{n} octave: {bands} bands; {len(train)} train, {len(es)} es, {len(valid)} valid segments")
        print(f"{'candidate':<34} {'seconds':>8} {'epochs':>6} {'s/epoch':>8} {'valid macro-F1':>15}")
        probabilities, models = {}, {}
        for cand in candidates:
            started = time.perf_counter()
            model = train_candidate(cand, train, es, seed=0)
            seconds = time.perf_counter() - started
            probabilities[cand.id] = model.probabilities(valid)
            models[cand.id] = model
            _, table = select({cand.id: probabilities[cand.id]}, valid.labels)
            print(
                f"{cand.id:<34} {seconds:8.2f} {model.epochs:6d} {seconds / model.epochs:8.3f} "
                f"{table[0]['valid_macro_f1']:15.3f}"
            )
        chosen, _ = select(probabilities, valid.labels)
        started = time.perf_counter()
        file_bootstrap(valid.labels, probabilities[chosen], valid.source_sha256, 20, 0)
        per = (time.perf_counter() - started) / 20
        print(
            f"bootstrap: {per * 1000:.1f} ms per resample of {len(valid)} segments ({args.classes} classes)"
        )
        if n == int(args.octaves.split(",")[0]):
            _mlflow_cost(models[chosen], train)


def _mlflow_cost(model, train: SegmentData) -> None:
    from sec_assets.core.tracking.runs import training_run
    from sec_assets.core.tracking.store import tracking

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(model.to_bytes())
        started = time.perf_counter()
        with tracking(uri) as client, training_run(client, uri, "bench", 1, {}, {}) as log:
            opened = time.perf_counter()
            log.candidate(model, train, {"model_path": path})
        done = time.perf_counter()
        print(
            f"mlflow (fresh SQLite store): {opened - started:.2f} s to create the store and open the parent "
            f"run, {done - opened:.2f} s to log one candidate ({model.epochs} epochs of losses, pyfunc)"
        )


if __name__ == "__main__":
    main()
