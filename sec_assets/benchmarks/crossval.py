"""Cross-validation's cost against one split, on the same data: k folds should cost about one
feature pass plus k trainings.

    python -m sec_assets.benchmarks.crossval [--classes 20] [--octave 3] [--dir DIR]

Writes an ESC-50-shaped table (``--classes`` × 20 clips of 0.25 s, 5 official folds, takes of one
source recording; :mod:`sec_assets.testing.dataset_tables`) and runs, each in its own home with the
random-init CLAP and the default candidates, in this process:

1. **one split** (``test_fold: 1``, ``segment_views: by_split``): the features of every class
   (:func:`sec_assets.local_run.class_features`), then ``trained_classifier`` and
   ``evaluation_report`` at the octave;
2. **5-fold cross-validation** (``segment_views: both``): :func:`sec_assets.crossval.run_crossval`
   — its feature pass and its 5 trainings and scorings.

Prints the seconds of each part and the ratios cross-validation / one split, and the training
alone per fold (``train_candidate``'s seconds, the figure that scales with k: the one split's
asset also logs to MLflow, registers and bootstraps its report).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.features.clap_store import ensure_random_init_model
from sec_assets.core.settings import Settings, load_settings
from sec_assets.crossval import run_crossval
from sec_assets.instance import ensure_dagster_home
from sec_assets.local_run import class_features, materialize_octave
from sec_assets.testing.dataset_tables import ESC50_COLUMNS, write_esc50_like


def _settings(root: Path, models: Path, name: str, octave: int, **overrides: Any) -> Settings:
    table, audio = root / "esc50" / "meta" / "esc50.csv", root / "esc50" / "audio"
    return load_settings(
        env={},
        home=root / name,
        audio_root=audio,
        models=models,
        allow_random_init=True,
        dataset_table=table,
        dataset_columns=ESC50_COLUMNS.model_dump_json(),
        min_clip_seconds=0.1,
        segment_seconds=0.25,
        target_sample_rate=8000,
        octaves=(octave,),
        **overrides,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--octave", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="work here (default: a temporary directory)")
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-crossval-"))
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    write_esc50_like(root / "esc50", classes=args.classes)
    models = root / "models"
    ensure_random_init_model(models)
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {os.cpu_count()} CPUs; {args.classes} classes × 20 clips")

    one = _settings(root, models, "one-split", args.octave, test_fold=1)
    ensure_dagster_home(one)
    features_one = class_features(one, [args.octave], log=None)
    started = time.perf_counter()
    materialize_octave(one, args.octave)
    training_one = time.perf_counter() - started

    five = _settings(root, models, "crossval", args.octave, segment_views="both")
    result = run_crossval(five, octaves=[args.octave], log=lambda _: None)
    k = result.per_fold["fold"].n_unique()

    rows = [
        ("features (once)", features_one, result.feature_seconds),
        (f"training and scoring (1 vs {k})", training_one, result.training_seconds),
        ("total", features_one + training_one, result.feature_seconds + result.training_seconds),
    ]
    print(f"{'':34} {'one split':>10} {f'{k}-fold':>10} {'ratio':>7}")
    for what, a, b in rows:
        print(f"{what:34} {a:9.1f}s {b:9.1f}s {b / a:6.2f}×")
    per_fold = result.per_fold.group_by("fold").agg(pl.col("train_seconds").sum()).sort("fold")
    seconds = per_fold["train_seconds"].to_list()
    print(
        f"training alone (train_candidate, every candidate): per fold "
        f"{', '.join(f'{s:.1f}' for s in seconds)} s; {k} folds {sum(seconds):.1f} s = "
        f"{sum(seconds) / seconds[0]:.2f}× fold 1 alone"
    )
    print(
        f"one split's trained_classifier + evaluation_report ({training_one:.1f} s) also logs to "
        "MLflow, registers, bootstraps the report's intervals and writes it"
    )
    print(result.table.markdown)


if __name__ == "__main__":
    main()
