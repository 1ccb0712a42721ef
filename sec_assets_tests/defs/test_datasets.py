"""Datasets as published, through the assets: an ESC-50-shaped table (official folds, takes of one
source recording, the real table's quirk) and FSDD-shaped names with ``group_pattern``; the
``no_group_in_two_splits`` check on real runs and on a leaked fixture; an edited row re-runs
only its class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
from dagster import DagsterInstance, materialize

from sec_assets.core.datasets.source import protocol_line
from sec_assets.core.store import catalog
from sec_assets.defs import ALL_ASSETS
from sec_assets.defs.splits import NO_GROUP_IN_TWO_SPLITS
from sec_assets.instance import register_classes
from sec_assets.resources import SecResource
from sec_assets.testing.dataset_tables import (
    ESC50_COLUMNS,
    FSDD_PATTERN,
    FSDD_SPEAKERS,
    QUIRK_GROUPS,
    esc50_like_rows,
    fsdd_names,
    write_esc50_like,
)

pytestmark = pytest.mark.slow

INGEST = ["raw_manifest", "splits"]


def _run(sec: SecResource, instance: DagsterInstance, keys: list[str], selection=INGEST):
    """One run over the classes (a partition range, as a backfill chunk runs them)."""
    first, last = min(keys), max(keys)
    result = materialize(
        ALL_ASSETS,
        selection=selection,
        resources={"sec": sec},
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=False,
    )
    return result


def _check(result, name: str):
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    assert len(evaluations) == 1
    return evaluations[0]


def test_esc50_shaped_table_follows_the_folds_and_keeps_source_recordings_whole(
    make_settings, dagster_home, tmp_path: Path
):
    table, audio = write_esc50_like(tmp_path / "esc50", classes=20)
    settings = make_settings(
        audio,
        dataset_table=table,
        dataset_columns=ESC50_COLUMNS.model_dump_json(),
        test_fold=1,
        min_clip_seconds=0.1,
    )
    classes, _ = register_classes(settings)
    assert len(classes) == 20
    sec = SecResource.from_settings(settings)
    home = settings.home
    with DagsterInstance.get() as instance:
        result = _run(sec, instance, sorted(classes))
        assert result.success

        manifest = catalog.query(home, "SELECT * FROM audio_files")
        rows = esc50_like_rows(20)
        assert manifest.height == rows.height == 404  # 20 × 20 clips + the 4 quirk rows
        assert manifest.filter(pl.col("status") != "ok").is_empty()
        assert sorted(manifest["table_row"].to_list()) == list(range(1, 405))

        splits = catalog.query(
            home,
            "SELECT s.*, m.relative_path FROM splits s JOIN audio_files m "
            "ON s.partition_key = m.partition_key AND s.source_sha256 = m.sha256",
        )
        # the folds exactly: fold 1 is test, every other fold trains (train/es/valid by group)
        assert splits.filter(pl.col("fold") == 1)["split"].unique().to_list() == ["test"]
        assert "test" not in splits.filter(pl.col("fold") != 1)["split"].to_list()
        assert splits.filter(pl.col("split") == "test").height == 20 * 4 + 1
        # no src_file in two splits, except the quirk that straddles the test fold as published
        spread = splits.group_by("source_group").agg(pl.col("split").n_unique().alias("n"))
        straddling = sorted(spread.filter(pl.col("n") > 1)["source_group"].to_list())
        assert straddling == [QUIRK_GROUPS[0]]

        check = _check(result, NO_GROUP_IN_TWO_SPLITS)
        assert check.passed
        assert check.metadata["groups_in_two_folds_as_published"].value == 1
        assert check.metadata["groups_in_two_splits"].value == 0

        assert protocol_line(settings.dataset(), 242) == (
            "official folds: test fold 1, validation and early stopping carved from the training "
            "folds by group; 242 source groups"
        )

        # one edited row re-runs only its class: a take moves to another source recording
        edited = pl.read_csv(table, infer_schema=False)
        victim = edited.filter(pl.col("category") == "cow").row(0, named=True)
        edited = edited.with_columns(
            pl.when(pl.col("filename") == victim["filename"])
            .then(pl.lit("777777"))
            .otherwise(pl.col("src_file"))
            .alias("src_file")
        )
        edited.write_csv(table)
        lineage_before = catalog.query(home, "SELECT asset, partition_key, run_id FROM lineage")
        again = _run(sec, instance, sorted(classes))
        assert again.success
        lineage_after = catalog.query(home, "SELECT asset, partition_key, run_id FROM lineage")
        changed = lineage_after.join(lineage_before, on=["asset", "partition_key"]).filter(
            pl.col("run_id") != pl.col("run_id_right")
        )
        assert sorted(changed.select("asset", "partition_key").rows()) == [
            ("raw_manifest", "cow"),
            ("splits", "cow"),
        ]


def test_fsdd_names_with_group_pattern_hold_speakers_out(make_settings, dagster_home, tmp_path: Path):
    root = tmp_path / "fsdd"
    rng = np.random.default_rng(0)
    for name in fsdd_names(digits=4, takes=2):
        digit = name.split("_")[0]
        (root / digit).mkdir(parents=True, exist_ok=True)
        sf.write(root / digit / name, 0.1 * rng.standard_normal(1600).astype(np.float32), 8000)
    settings = make_settings(
        root,
        group_pattern=FSDD_PATTERN,
        split_fractions={"train": 0.5, "es": 0.0, "valid": 0.17, "test": 0.33},
    )
    classes, _ = register_classes(settings)
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:
        result = _run(sec, instance, sorted(classes))
        assert result.success
        splits = catalog.query(settings.home, "SELECT * FROM splits")
    assert splits.height == 4 * 6 * 2
    assert sorted(splits["source_group"].unique().to_list()) == sorted(FSDD_SPEAKERS)
    per_speaker = splits.group_by("source_group").agg(pl.col("split").unique())
    assert all(len(s) == 1 for s in per_speaker["split"])  # every speaker in one split
    assert {"train", "test"} <= set(splits["split"])  # and the classes still train and test
    check = _check(result, NO_GROUP_IN_TWO_SPLITS)
    assert check.passed
    assert check.metadata["groups"].value == 6


def test_the_group_check_fails_on_a_leaked_fixture(make_settings, dagster_home, tmp_path: Path):
    """A splits partition written by hand with one speaker in train and test: the blocking check
    fails, naming the speaker."""
    root = tmp_path / "fsdd"
    rng = np.random.default_rng(1)
    for name in fsdd_names(speakers=("george", "theo"), digits=2, takes=2):
        digit = name.split("_")[0]
        (root / digit).mkdir(parents=True, exist_ok=True)
        sf.write(root / digit / name, 0.1 * rng.standard_normal(1600).astype(np.float32), 8000)
    settings = make_settings(root, group_pattern=FSDD_PATTERN)
    register_classes(settings)
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:
        assert _run(sec, instance, ["0"]).success
        leaked = catalog.query(settings.home, "SELECT * FROM splits WHERE partition_key = '0'")
        george = leaked.filter(pl.col("source_group") == "george").sort("source_sha256")
        assert george.height == 2
        leaked = leaked.with_columns(
            pl.when(pl.col("source_sha256") == george["source_sha256"][0])
            .then(pl.lit("train"))
            .when(pl.col("source_sha256") == george["source_sha256"][1])
            .then(pl.lit("test"))
            .otherwise(pl.col("split"))
            .alias("split")
        )
        catalog.write_table_partition(
            settings.home,
            "splits",
            {"audio_class": "1"},
            leaked.with_columns(pl.lit("1").alias("partition_key")),
        )
        result = _run(sec, instance, ["0"])
    check = _check(result, NO_GROUP_IN_TWO_SPLITS)
    assert not check.passed
    assert check.metadata["groups_in_two_splits"].value == 1
    assert "george" in check.metadata["examples"].value


def test_a_bad_table_writes_nothing_and_a_missing_file_is_a_failed_row(
    make_settings, dagster_home, tmp_path: Path
):
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(3):
        sf.write(audio / f"{i}.wav", np.full(800, 0.1 * (i + 1), np.float32), 8000)
    table = tmp_path / "meta.csv"
    table.write_text("file,species\n0.wav,wren\n1.wav,wren\nmissing.wav,wren\n2.wav,robin\n")
    settings = make_settings(
        audio, dataset_table=table, dataset_columns='{"path": "file", "label": "species"}'
    )
    classes, _ = register_classes(settings)
    assert classes == {"robin": "robin", "wren": "wren"}
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:
        assert _run(sec, instance, ["wren"], ["raw_manifest"]).success
        wren = catalog.query(settings.home, "SELECT relative_path, status, error, table_row FROM audio_files")
        failed = wren.filter(pl.col("status") == "failed").row(0, named=True)
        assert (wren.height, failed["relative_path"], failed["table_row"]) == (3, "missing.wav", 3)
        assert failed["error"] == f"missing: no file at {audio / 'missing.wav'} (table row 3)"

        table.write_text("file,species\n0.wav,wren\n1.wav,wren\n1.wav,robin\n2.wav,robin\n")  # a duplicate
        result = _run(sec, instance, ["robin"], ["raw_manifest"])
        assert not result.success
        failure = result.failure_data_for_node("raw_manifest")
        assert "rows 2, 3, column 'file': the path '1.wav' is listed twice" in str(failure.error)
        robin = catalog.query(settings.home, "SELECT * FROM audio_files WHERE partition_key = 'robin'")
        assert robin.is_empty()  # nothing half-written
