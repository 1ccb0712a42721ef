"""``prediction_drift`` through ``materialize()`` on a temporary home with a real (SQLite) registry:
the upstream files written as their writers write them (served shards, inbox_predictions
partitions with their done markers, the evaluation's test predictions and report.json), then a
day that matches the champion's test set (the check passes), a shifted day (it warns and names
the day), the catalog view, and what happens with no data, no champion, or another version's
report."""

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from sec_assets.core.inference import inbox, inbox_run
from sec_assets.core.monitoring.reference import report_dir
from sec_assets.core.serving.request_log import write_shard
from sec_assets.core.settings import load_settings
from sec_assets.core.store import catalog
from sec_assets.core.tracking.gate import CHAMPION
from sec_assets.core.tracking.registry import registered_name
from sec_assets.core.tracking.store import tracking
from sec_assets.defs.monitoring import NO_DATA, WITHIN_BOUNDS, prediction_drift
from sec_assets.resources import SecResource
from sec_assets_tests.core.monitoring.frames import REFERENCE, inbox_rows, predictions_frame, served_rows

pytestmark = pytest.mark.slow  # a registry and a materialize() per test: ≈ 10 s each
MATCHING, SHIFTED = "2026-12-01", "2026-12-02"
AS_TESTED = [("a", 0.95)] * 3 + [("b", 0.75)] * 2  # the reference's shares, half its size


def _settings(tmp_path: Path, **overrides):
    (tmp_path / "landing").mkdir(exist_ok=True)
    return load_settings(
        env={},
        home=tmp_path / "home",
        audio_root=tmp_path / "landing",
        models=tmp_path / "models",
        octaves=(3,),
        **overrides,
    )


@pytest.fixture
def settings(tmp_path: Path, dagster_home: Path):
    return _settings(tmp_path)


def _champion(settings) -> str:
    """One more registered version of the 1/3 model, made champion (no training: the drift watch
    reads the registry's names and versions, and the evaluation's files)."""
    name = registered_name(settings.registered_model_prefix, 3)
    with tracking(settings.tracking_uri) as client:
        if not client.search_registered_models(f"name = '{name}'"):
            client.create_registered_model(name)
        version = client.create_model_version(name, source=str(settings.home / "model"))
        client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)


def _evaluation(settings, version: str) -> None:
    """What evaluation_report leaves on disk for the version it registered."""
    folder = report_dir(settings.home, 3)
    folder.mkdir(parents=True, exist_ok=True)
    predictions_frame(REFERENCE).write_parquet(folder / "test_predictions.parquet")
    name = registered_name(settings.registered_model_prefix, 3)
    registry = {"name": name, "version": version, "alias": CHAMPION, "reason": "", "champion_before": None}
    (folder / "report.json").write_text(json.dumps({"octave": 3, "registry": registry}))


def _inbox(settings, sha: str, day: str, windows) -> None:
    """A labelled recording as the inbox pass leaves it: its partition, then its done marker."""
    catalog.write_table_partition(
        settings.home, inbox_run.TABLE, {inbox_run.PARTITION: sha}, inbox_rows(sha, windows)
    )
    out = settings.home / inbox_run.OUT
    inbox.mark_done(out, sha, "key", {"path": f"/inbox/{sha}.wav", "size": 1, "mtime_ns": 1})
    noon = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    os.utime(inbox.marker(out, sha), (noon, noon))


def _run(settings, expect_success: bool = True):
    with DagsterInstance.get() as instance:
        result = materialize(
            [prediction_drift],
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=False,
        )
    assert result.success == expect_success
    return result


def _outcome(result) -> tuple[dict, object]:
    (mat,) = result.asset_materializations_for_node("prediction_drift")
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == WITHIN_BOUNDS]
    return {k: v.value for k, v in mat.metadata.items()}, check


def test_a_matching_day_passes_and_a_shifted_day_warns_naming_it(settings):
    assert _champion(settings) == "1"
    _evaluation(settings, "1")
    home = settings.home
    write_shard(home, served_rows("r1", MATCHING, AS_TESTED) + served_rows("r2", MATCHING, AS_TESTED))
    _inbox(settings, "rec", MATCHING, AS_TESTED)  # min_confidence 0.1: every test segment counts

    meta, check = _outcome(_run(settings))
    assert check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.description == "all 2 (source, octave, day) rows within PSI 0.2"
    assert (meta["served_requests"], meta["served_windows"]) == (2, 10)
    assert (meta["inbox_recordings"], meta["inbox_windows"]) == (1, 5)
    assert meta["days_over_threshold"] == 0 and meta["drift_psi_threshold"] == 0.2
    assert (
        "data:image/png;base64," in meta["plot"] and "| 2026-12-01 | served | 3 | 2 |" in meta["latest_days"]
    )
    assert "| 3 | sec-classifier-oct3 v1 | 1 | 10 |" in meta["references"]
    assert (home / "reports" / "drift" / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    write_shard(home, served_rows("r3", SHIFTED, [("c", 0.35)] * 4))  # a class the test set never had
    meta, check = _outcome(_run(settings))
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.description == (
        "1 of 3 (source, octave, day) rows part from the champion's test set (PSI > 0.2): "
        "served 1/3 2026-12-02: class PSI 17.745, confidence PSI 17.745 (4 windows)"
    )
    assert check.metadata["rows_over_threshold"].value == 1
    assert (meta["served_requests"], meta["days"], meta["days_over_threshold"]) == (3, 2, 1)
    rows = catalog.query(
        home,
        "SELECT source, octave, day, requests, recordings, windows, round(mean_top1, 4) AS mean, "
        "round(class_psi, 4) AS class_psi, round(confidence_psi, 4) AS conf_psi, reference_version "
        "FROM prediction_drift ORDER BY source, day",
    )
    assert rows.rows() == [
        ("inbox", 3, MATCHING, None, 1, 5, 0.87, 0.0, 0.0, "1"),
        ("served", 3, MATCHING, 2, None, 10, 0.87, 0.0, 0.0, "1"),
        ("served", 3, SHIFTED, 1, None, 4, 0.35, 17.745, 17.745, "1"),
    ]


def test_the_inbox_is_compared_above_its_min_confidence(tmp_path: Path, dagster_home: Path):
    """The inbox keeps no label under min_confidence (0.8 here): its windows at 0.9, all "a", are
    compared with the 6 test segments at 0.95, not with the 4 at 0.75 it could not show."""
    settings = _settings(tmp_path, min_confidence=0.8)
    _champion(settings)
    _evaluation(settings, "1")
    _inbox(settings, "rec", MATCHING, [("a", 0.9)] * 3)
    meta, check = _outcome(_run(settings))
    assert check.passed and meta["inbox_recordings"] == 1
    row = catalog.query(settings.home, "SELECT * FROM prediction_drift").row(0, named=True)
    assert (row["confidence_floor"], row["reference_segments"], row["class_psi"]) == (0.8, 6, 0.0)
    assert row["confidence_psi"] == 0.0  # 0.9 and 0.95: the same bin


def test_no_data_is_a_passing_no_op_that_says_so(settings):
    _champion(settings)
    _evaluation(settings, "1")
    meta, check = _outcome(_run(settings))
    assert check.passed and check.description == NO_DATA
    assert meta["status"] == NO_DATA and meta["rows"] == 0 and "plot" not in meta
    assert catalog.query(settings.home, "SELECT count(*) FROM prediction_drift").item() == 0
    assert NO_DATA in (settings.home / "reports" / "drift" / "drift.md").read_text()


def test_no_champion_is_a_failure_naming_what_to_materialize(settings):
    result = _run(settings, expect_success=False)
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert "no registered model has a champion" in message
    assert "materialize trained_classifier and evaluation_report" in message


def test_a_report_of_another_version_is_named_in_the_metadata(settings):
    _champion(settings)
    _evaluation(settings, "1")
    assert _champion(settings) == "2"  # v2 is champion now; the report on disk is still v1's
    write_shard(settings.home, served_rows("r1", MATCHING, AS_TESTED, version="2"))
    meta, check = _outcome(_run(settings))
    note = (
        "NOT the champion's own: the report on disk is of sec-classifier-oct3 v1 and v2's evaluation "
        "run has no test predictions in MLflow"
    )
    assert check.passed and check.metadata["reference_notes"].value == f"1/3: {note}"
    assert "| 3 | sec-classifier-oct3 v2 | 1 | 10 |" in meta["references"] and note in meta["references"]
    row = catalog.query(settings.home, "SELECT model_versions, reference_version FROM prediction_drift").row(
        0
    )
    assert row == ("2", "1")
