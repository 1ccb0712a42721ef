"""``sec-assets crossval`` on an ESC-50-shaped table (20 classes × 20 clips, 5 official folds,
takes of one source recording): features computed once in both views and shared by every fold,
5 folds' figures, the mean ± interval table, the catalog view, the reports and MLflow — and the
production registry untouched."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import polars as pl
import pytest

from sec_assets.cli import main
from sec_assets.core.audio.views import is_variant, view_masks
from sec_assets.core.store import catalog
from sec_assets.core.tracking.crossval import NAME_TAG, experiment_name, metric_name
from sec_assets.crossval import REPORT_FILES, CrossvalError, run_crossval
from sec_assets.local_run import blocks
from sec_assets.testing.dataset_tables import ESC50_COLUMNS, write_esc50_like

pytestmark = pytest.mark.slow

CHEAP = json.dumps(
    [{"features": "octave_stats", "head": "mlp"}, {"features": "clap+octave_stats", "head": "mlp"}]
)


def _settings(make_settings, tmp_path: Path, **overrides):
    table, audio = write_esc50_like(tmp_path / "esc50", classes=20)
    return make_settings(
        audio,
        dataset_table=table,
        dataset_columns=ESC50_COLUMNS.model_dump_json(),
        min_clip_seconds=0.1,
        segment_seconds=0.25,
        target_sample_rate=8000,
        octaves=(1, 3),
        candidates=CHEAP,
        augment_probability=0.25,  # fewer variants to embed (about 100 of 404)
        **overrides,
    )


def test_crossval_over_the_official_folds_shares_the_features_of_every_fold(
    make_settings, dagster_home, tmp_path: Path
):
    with pytest.raises(CrossvalError, match="segment_views: both"):
        run_crossval(_settings(make_settings, tmp_path), log=lambda _: None)

    settings = _settings(make_settings, tmp_path, segment_views="both")
    home = settings.home
    lines: list[str] = []
    result = run_crossval(settings, octaves=[3], log=lines.append)

    # every file has its clean cut and, where the draw augments it, the augmented variant beside it
    segments = catalog.query(home, "SELECT segment_key, augmented, round FROM segments")
    files = catalog.query(home, "SELECT * FROM audio_files WHERE status = 'ok'")
    assert files.height == 404
    assert (segments["round"] == 0).all()
    keys = segments["segment_key"].to_list()
    variants = segments.filter(pl.col("augmented"))
    assert variants.height > 0
    assert all(is_variant(k) for k in variants["segment_key"])
    clean_keys = set(segments.filter(~pl.col("augmented"))["segment_key"])
    assert clean_keys == {k.removesuffix("~aug") for k in keys}  # one clean cut per window
    assert len(clean_keys) == 404  # one 0.25 s window per clip
    training, clean = view_masks(keys)
    assert int(clean.sum()) == 404 and int(training.sum()) == 404

    # 5 folds × 2 candidates, each fold's test files exactly that fold's clips
    per_fold = result.per_fold
    assert per_fold.height == 5 * 2
    assert sorted(per_fold["fold"].unique().to_list()) == [1, 2, 3, 4, 5]
    tested = per_fold.group_by("fold").agg(pl.col("test_files").first()).sort("fold")
    assert tested["test_files"].to_list() == [81, 81, 81, 81, 80]  # 4 clips × 20 classes + the quirks
    assert per_fold.group_by("fold").agg(pl.col("selected").sum())["selected"].to_list() == [1] * 5
    # the quirk recordings (one src_file in two folds, as published) are the only groups that cross
    assert per_fold["test_groups_in_training"].max() == 1
    # pitched tones: the band statistics tell the classes apart in every fold
    stats = per_fold.filter(pl.col("features") == "octave_stats")
    assert stats["test_accuracy"].min() > 0.5

    summary = result.summary
    assert summary.height == 3  # two candidates and "selected per fold"
    assert (summary["n_folds"] == 5).all()
    row = summary.filter(pl.col("candidate").str.starts_with("octave_stats")).row(0, named=True)
    assert row["accuracy_ci_low"] < row["accuracy_mean"] < row["accuracy_ci_high"]
    assert "± " in result.table.markdown and "k = 5 folds" in result.table.markdown
    assert "1/3" in result.table.csv.splitlines()[0]

    assert sorted(p.name for p in result.report_dir.iterdir()) == sorted(REPORT_FILES)
    assert (result.report_dir / "crossval.png").read_bytes()[:4] == b"\x89PNG"
    in_catalog = catalog.query(home, f"SELECT * FROM crossval WHERE run = '{result.name}'")
    assert in_catalog.height == 10
    assert (
        in_catalog.drop("run", "train_seconds")
        .sort("fold", "candidate")
        .equals(per_fold.drop("train_seconds").sort("fold", "candidate"))
    )

    # the registry too: another test's process-wide registry URI must not answer for this home's
    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    exp = client.get_experiment_by_name(experiment_name(settings.mlflow_experiment))
    runs = client.search_runs([exp.experiment_id], f"tags.`{NAME_TAG}` = '{result.name}'")
    assert len(runs) == 1 + 5  # the parent and a run per (octave, fold)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    mean = parent.data.metrics[metric_name("1_3", row["candidate"], "accuracy_mean")]
    assert mean == pytest.approx(row["accuracy_mean"])
    assert any("clap_octave_stats" in k for k in parent.data.metrics)  # '+' is no metric name
    assert client.get_experiment_by_name(settings.mlflow_experiment) is None  # production: nothing
    assert client.search_registered_models() == []  # the registry: nothing

    # a second run reuses every feature partition (nothing recomputed) and gives the same figures
    sql = "SELECT asset, partition_key, run_id FROM lineage ORDER BY 1, 2"
    lineage = catalog.query(home, sql)
    again = run_crossval(settings, octaves=[3], log=lambda _: None)
    assert catalog.query(home, sql).equals(lineage)
    assert again.per_fold.drop("train_seconds").equals(per_fold.drop("train_seconds"))
    assert any("5 test folds of the table's 5" in line for line in lines)


def test_the_command_names_the_settings_it_needs(dagster_home, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("SEC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SEC_AUDIO_ROOT", str(tmp_path))
    monkeypatch.delenv("SEC_DATASET_TABLE", raising=False)
    assert main(["crossval"]) == 2
    err = capsys.readouterr().err
    assert "sec-assets crossval: crossval follows a dataset table's official folds" in err
    assert "SEC_DATASET_TABLE" in err


def test_the_feature_runs_cover_the_classes_in_contiguous_ranges():
    order = ["a", "b", "gone", "c", "d", "old", "e"]  # registered order; two classes left the table
    assert blocks(order, ["a", "b", "c", "d", "e"]) == [("a", "b"), ("c", "d"), ("e", "e")]
    assert blocks(order[:2], ["b", "a"]) == [("a", "b")]
    assert blocks(order, []) == []
