"""``sec-assets crossval``: cross-validation over a dataset table's official folds, features
computed once and shared by every fold.

1. **Features, once.** With ``segment_views: both`` every file has its clean and its augmented
   segments whatever its split (:mod:`sec_assets.core.audio.views`), so one feature pass —
   manifest, segments, CLAP embeddings, spectrograms at the chosen octaves, in this process on
   Dagster's embedded executor (partitions already current are kept) — serves every fold. With
   ``materialize=False`` nothing is materialized and every class must already be current (e.g.
   after ``sec-assets backfill`` on the cluster).
2. **k trainings.** Per octave, the fold plan (:func:`~sec_assets.core.models.crossval.fold_plan`)
   makes every fold the test fold once; every candidate is trained per fold and the fold's model
   chosen on its validation split (:func:`~sec_assets.core.models.crossval.cross_validate`).
3. **Results** (:func:`~sec_assets.core.evaluation.crossval.summarise`): the catalog's
   ``crossval`` table (one row per run × octave × fold × candidate; a re-run of a name replaces
   it), ``<home>/reports/crossval/<name>/`` (``per_fold.csv``, ``summary.csv``, ``results.md``
   and ``results.csv`` shaped like a paper's table, ``crossval.png``, ``plan.csv``), and MLflow's
   ``<experiment>-crossval`` experiment (:mod:`sec_assets.core.tracking.crossval`). Nothing is
   registered; the production champion is never touched.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sec_assets.core.audio.splits import SPLITS
from sec_assets.core.evaluation.crossval import PaperTable, crossval_png, paper_table, summarise
from sec_assets.core.models.crossval import CrossValData, TrainView, ValidRule, cross_validate, fold_plan
from sec_assets.core.models.data import load_segment_data, split_rows
from sec_assets.core.settings import Settings
from sec_assets.core.store import catalog, storage
from sec_assets.core.tracking.crossval import log_crossval
from sec_assets.local_run import class_features

REPORT_FILES = ("results.md", "results.csv", "crossval.png", "per_fold.csv", "summary.csv", "plan.csv")


class CrossvalError(ValueError):
    """Cross-validation cannot run with these settings or this data; the message says what to change."""


@dataclass(frozen=True)
class CrossvalResult:
    name: str
    per_fold: pl.DataFrame
    summary: pl.DataFrame
    table: PaperTable
    report_dir: Path
    run_id: str
    feature_seconds: float  # the feature pass (0 when every partition was current)
    training_seconds: float  # every fold's training and scoring, every octave


def default_name(folds: Sequence[int] | None, valid: ValidRule, train_view: TrainView) -> str:
    which = "all-folds" if folds is None else "folds-" + "-".join(str(f) for f in folds)
    return f"{which}.{valid}.{train_view}"


def check_settings(settings: Settings, octaves: Sequence[int]) -> None:
    """Raise :class:`CrossvalError` unless the settings can cross-validate at ``octaves``."""
    if settings.dataset_table is None or settings.dataset_columns.fold is None:
        raise CrossvalError(
            "crossval follows a dataset table's official folds: set dataset_table (SEC_DATASET_TABLE) "
            "and dataset_columns.fold"
        )
    if settings.segment_views != "both":
        raise CrossvalError(
            "crossval needs segment_views: both (SEC_SEGMENT_VIEWS=both), so that every file has its "
            "clean and its augmented segments and one feature pass serves every fold (it is "
            f"{settings.segment_views!r})"
        )
    unknown = sorted(set(octaves) - set(settings.octaves))
    if unknown or not octaves:
        raise CrossvalError(f"octaves {list(octaves)}: choose among the octaves setting {settings.octaves}")


def _not_current(home: Path, classes: Sequence[str]) -> list[str]:
    """Classes whose segments were not made with both views (or not made at all)."""
    out = []
    for key in classes:
        row = catalog.read_lineage(home, "augmented_segments", key)
        if row is None or json.loads(row["params"]).get("segment_views") != "both":
            out.append(key)
    return out


def _files(home: Path, classes: Sequence[str]) -> pl.DataFrame:
    rows = split_rows(home, classes)
    if "fold" not in rows.columns or rows["fold"].null_count():
        raise CrossvalError("some files have no fold: materialize splits with the table's fold column")
    group = pl.col("source_group") if "source_group" in rows.columns else pl.lit(None, dtype=pl.String)
    return rows.select("partition_key", "source_sha256", "fold", group.cast(pl.String).alias("group"))


def _write_reports(
    home: Path,
    name: str,
    per_fold: pl.DataFrame,
    summary: pl.DataFrame,
    plan: pl.DataFrame,
) -> tuple[Path, PaperTable]:
    table = paper_table(summary)
    final = home / "reports" / "crossval" / name
    with storage.replacing_dir(final, home) as tmp:
        (tmp / "results.md").write_text(table.markdown)
        (tmp / "results.csv").write_text(table.csv)
        (tmp / "crossval.png").write_bytes(crossval_png(summary))
        per_fold.write_csv(tmp / "per_fold.csv")
        flat = pl.col("folds").cast(pl.List(pl.String)).list.join(" ")  # CSV holds no lists
        summary.with_columns(flat).write_csv(tmp / "summary.csv")
        plan.write_csv(tmp / "plan.csv")
    return final, table


def run_crossval(
    settings: Settings,
    octaves: Sequence[int] | None = None,
    folds: Sequence[int] | None = None,
    valid: ValidRule = "carved",
    train_view: TrainView = "augmented",
    name: str | None = None,
    materialize: bool = True,
    log: Callable[[str], None] = print,
) -> CrossvalResult:
    """Cross-validate every candidate at ``octaves`` (default: every octave) over ``folds``
    (default: every fold of the table); see the module docstring."""
    chosen = list(octaves or settings.octaves)
    check_settings(settings, chosen)
    name = name or default_name(folds, valid, train_view)
    if not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
        raise CrossvalError(f"name {name!r}: letters, digits, '-', '_' and '.' only")
    home = settings.home
    spec = settings.dataset()
    classes = sorted(spec.classes())
    feature_seconds = (
        class_features(settings, chosen, log=log if materialize else None) if materialize else 0.0
    )
    stale = _not_current(home, classes)
    if stale:
        raise CrossvalError(
            f"{len(stale)} class(es) have no segments in both views (e.g. {stale[0]!r}): materialize "
            "their features with segment_views: both (run crossval without --no-materialize, or a backfill)"
        )
    files = _files(home, classes)
    plan = fold_plan(files, settings.split_fractions, settings.seed, folds=folds, valid=valid)
    groups = files["group"].drop_nulls().n_unique()
    log(
        f"crossval {name}: {plan['test_fold'].n_unique()} test folds of the table's "
        f"{files['fold'].n_unique()}, {files.height} files in {len(classes)} classes"
        + (f", {groups} source groups" if groups else "")
        + f"; validation {'the next fold' if valid == 'next' else 'carved from the training folds by group'}"
    )
    parts = []
    started = time.perf_counter()
    for octave in chosen:
        data = CrossValData.from_keys(load_segment_data(home, octave, classes, SPLITS, every_view=True))
        t0 = time.perf_counter()
        part = cross_validate(data, plan, settings.candidates, settings.seed, octave, train_view)
        log(
            f"  1/{octave} octave: {part['fold'].n_unique()} folds × {len(settings.candidates)} candidates "
            f"trained and scored ({len(data.data)} segments) {time.perf_counter() - t0:6.1f} s"
        )
        parts.append(part)
    training_seconds = time.perf_counter() - started
    per_fold = pl.concat(parts)
    summary = summarise(per_fold)
    catalog.write_table_partition(home, "crossval", {"run": name}, per_fold.with_columns(run=pl.lit(name)))
    report_dir, table = _write_reports(home, name, per_fold, summary, plan)
    params = {
        "name": name,
        "octaves": chosen,
        "folds": sorted(plan["test_fold"].unique().to_list()),
        "valid": valid,
        "train_view": train_view,
        "seed": settings.seed,
        "candidates": [c.id for c in settings.candidates],
        "classes": len(classes),
        "files": files.height,
        "dataset_table": str(settings.dataset_table),
    }
    run_id = log_crossval(
        settings.tracking_uri,
        settings.mlflow_experiment,
        name,
        params,
        per_fold,
        summary,
        [report_dir / f for f in REPORT_FILES],
    )
    return CrossvalResult(
        name, per_fold, summary, table, report_dir, run_id, feature_seconds, training_seconds
    )
