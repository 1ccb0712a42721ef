"""The landing sensor over a dataset table: it watches the table (settle, then read), requests a
run per label whose rows changed — only those — and on a label's first sight compares its rows
and files with its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from dagster import DagsterInstance, SensorResult, build_sensor_context, materialize

from sec_assets.core.landing.catalogued import Verdict, compare_entries
from sec_assets.core.settings import load_settings
from sec_assets.defs import ALL_ASSETS
from sec_assets.defs.sensors.landing import landing_folder_sensor
from sec_assets.resources import SecResource
from sec_assets.testing.dataset_tables import ESC50_COLUMNS, write_esc50_like


def _tick(instance: DagsterInstance, sec: SecResource, cursor: str | None) -> SensorResult:
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"sec": sec})
    result = landing_folder_sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions("audio_class", list(request.partition_keys or []))
    return result


def _edit(table: Path, filename: str, column: str, value: str) -> None:
    frame = pl.read_csv(table, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.col("filename") == filename).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )
    frame.write_csv(table)


def test_the_sensor_watches_the_table_and_runs_only_the_labels_whose_rows_changed(
    tmp_path: Path, dagster_home: Path, model_store: Path
):
    table, audio = write_esc50_like(tmp_path / "esc50", classes=4)
    settings = load_settings(
        env={},
        home=tmp_path / "home",
        audio_root=audio,
        models=model_store,
        dataset_table=table,
        dataset_columns=ESC50_COLUMNS.model_dump_json(),
    )
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:
        first = _tick(instance, sec, None)
        assert first.skip_reason is not None and "is settling" in str(first.skip_reason)
        second = _tick(instance, sec, first.cursor)
        assert sorted(r.partition_key for r in second.run_requests or []) == ["cow", "dog", "pig", "rooster"]
        assert sorted(instance.get_dynamic_partitions("audio_class")) == ["cow", "dog", "pig", "rooster"]
        quiet = _tick(instance, sec, second.cursor)
        assert not quiet.run_requests and "unchanged" in str(quiet.skip_reason)

        _edit(table, "2-100201-A-2.wav", "src_file", "555555")  # one pig row moves to another recording
        settling = _tick(instance, sec, quiet.cursor)
        assert not settling.run_requests
        edited = _tick(instance, sec, settling.cursor)
        assert [r.partition_key for r in edited.run_requests or []] == ["pig"]
        assert (
            json.loads(edited.cursor or "{}")["sent"]["pig"]
            != json.loads(second.cursor or "{}")["sent"]["pig"]
        )

        # first sight against the catalog: the manifest as the table says → unchanged; a row
        # edited since → its rows changed
        result = materialize(
            ALL_ASSETS,
            selection=["raw_manifest"],
            partition_key="cow",
            resources={"sec": sec},
            instance=instance,
        )
        assert result.success
        dataset = settings.dataset()
        assert (
            compare_entries(settings.home, "cow", dataset.entries("cow"), ["raw_manifest"])
            is Verdict.UNCHANGED
        )
        _edit(table, "3-100303-A-3.wav", "fold", "4")
        assert (
            compare_entries(settings.home, "cow", dataset.entries("cow"), ["raw_manifest"])
            is Verdict.ROWS_CHANGED
        )
        assert (
            compare_entries(settings.home, "dog", dataset.entries("dog"), ["raw_manifest"])
            is Verdict.NO_MANIFEST
        )
