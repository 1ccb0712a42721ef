"""The reference is the champion's own test-set distribution: the report on disk when it names the
champion's version, else the champion's evaluation run in MLflow, else the report on disk with a
note that it is another version's; nothing at all names what to materialize."""

import json
from pathlib import Path

import numpy as np
import pytest

from sec_assets.core.monitoring.reference import PARENT_TAG, champion_reference, report_dir
from sec_assets.core.tracking.store import tracking
from sec_assets_tests.core.monitoring.frames import REFERENCE, predictions_frame

NAME = "sec-classifier-oct3"


def _report(home: Path, version: str, top1=REFERENCE) -> Path:
    """The evaluation report on disk: its test predictions and the version it registered."""
    folder = report_dir(home, 3)
    folder.mkdir(parents=True, exist_ok=True)
    predictions_frame(top1).write_parquet(folder / "test_predictions.parquet")
    registry = {"name": NAME, "version": version, "alias": "champion", "reason": "", "champion_before": None}
    (folder / "report.json").write_text(json.dumps({"octave": 3, "registry": registry}))
    return folder / "test_predictions.parquet"


def test_the_report_on_disk_when_it_is_the_champions(tmp_path: Path):
    path = _report(tmp_path, "1")
    ref = champion_reference(tmp_path, 3, NAME, "1")
    assert (ref.version, ref.origin, ref.note, ref.segments) == ("1", str(path), "", 10)
    assert ref.class_counts() == {"a": 6, "b": 4}
    assert ref.confidence_counts().tolist() == [0, 0, 0, 0, 0, 0, 0, 4, 0, 6]
    high = ref.above(0.8)
    assert (high.segments, high.class_counts()) == (6, {"a": 6})
    assert np.allclose(high.confidences, 0.95) and ref.above(0.0) is ref


def test_another_versions_report_is_used_only_with_a_note(tmp_path: Path):
    _report(tmp_path, "2")  # the gate turned v2 down: its evaluation overwrote the report
    ref = champion_reference(tmp_path, 3, NAME, "1")
    assert ref.version == "2"
    assert ref.note == (
        f"NOT the champion's own: the report on disk is of {NAME} v2 and v1's evaluation run has no "
        "test predictions in MLflow"
    )
    with pytest.raises(FileNotFoundError, match="materialize evaluation_report for octave 3"):
        champion_reference(tmp_path / "empty", 3, NAME, "1")


def test_the_champions_own_predictions_come_from_its_mlflow_run(tmp_path: Path):
    """A real SQLite registry: the training's parent run holds report/test_predictions.parquet,
    its child run logged the model version that is champion; the report on disk is v2's."""
    _report(tmp_path, "2", top1=[("c", 0.55)] * 5)
    champion_own = tmp_path / "champion" / "test_predictions.parquet"
    champion_own.parent.mkdir()
    predictions_frame([("b", 0.75)] * 8).write_parquet(champion_own)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracking(uri) as client:
        exp = client.create_experiment("drift", artifact_location=(tmp_path / "artifacts").as_uri())
        parent = client.create_run(exp).info.run_id
        client.log_artifact(parent, str(champion_own), artifact_path="report")
        child = client.create_run(exp, tags={PARENT_TAG: parent}).info.run_id
        client.create_registered_model(NAME)
        version = client.create_model_version(NAME, source=str(tmp_path / "model"), run_id=child).version
        assert str(version) == "1"
        ref = champion_reference(tmp_path, 3, NAME, "1", client)
        other = champion_reference(tmp_path, 3, NAME, "2", client)  # not registered: the disk's v2
    assert (ref.version, ref.origin, ref.class_counts()) == ("1", f"MLflow run {parent}", {"b": 8})
    assert ref.note == f"the report on disk is of {NAME} v2; the champion's own was read from MLflow"
    assert (other.version, other.note, other.class_counts()) == ("2", "", {"c": 5})
