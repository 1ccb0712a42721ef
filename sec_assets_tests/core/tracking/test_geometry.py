"""The training segment geometry: agreed from the classes' augmented_segments lineage, logged as
``segment.*`` run params, read back from a registered version's run."""

import dataclasses
from pathlib import Path

import pytest

from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.inference.windows import WindowParams, logged_window
from sec_assets.core.tracking.geometry import (
    SEGMENT_PARAMS,
    SegmentGeometry,
    agreed_geometry,
    from_run_params,
    logged_geometry,
)
from sec_assets.core.tracking.store import tracking


def _lineage(**changes) -> dict:
    """An augmented_segments lineage row's params, as the asset writes them."""
    return {**vars(SegmentParams(**changes)), "storage": "pcm", "augmented_splits": ["train", "es"]}


def test_the_names_are_the_segment_settings_and_the_run_params_prefix_them():
    assert SEGMENT_PARAMS == ("segment_seconds", "hop_seconds", "min_segment_seconds", "sample_rate")
    assert set(SEGMENT_PARAMS) <= {f.name for f in dataclasses.fields(SegmentParams)}
    assert SegmentGeometry(7.0, 3.5, 1.0, 44100).run_params() == {
        "segment.segment_seconds": "7.0",
        "segment.hop_seconds": "3.5",
        "segment.min_segment_seconds": "1.0",
        "segment.sample_rate": "44100",
    }


def test_classes_that_agree_give_their_geometry():
    lineage = {"dog": _lineage(hop_seconds=3.5), "cat": _lineage(hop_seconds=3.5, noise_mix=0.1)}
    assert agreed_geometry(lineage) == SegmentGeometry(7.0, 3.5, 1.0, 44100)  # noise_mix is no geometry


def test_classes_that_disagree_fail_naming_the_classes_and_their_values():
    lineage = {
        "dog": _lineage(),
        "cat": _lineage(segment_seconds=5.0, hop_seconds=5.0),
        "owl": _lineage(),
    }
    with pytest.raises(ValueError) as caught:
        agreed_geometry(lineage)
    assert str(caught.value) == (
        "the classes' segments were cut with different segment settings, a model needs one: "
        "dog, owl: segment_seconds=7.0, hop_seconds=7.0, min_segment_seconds=1.0, sample_rate=44100; "
        "cat: segment_seconds=5.0, hop_seconds=5.0, min_segment_seconds=1.0, sample_rate=44100. "
        "Re-materialize augmented_segments for all of them with the same settings"
    )
    # a tie: in class order
    with pytest.raises(ValueError, match=r"cat: .*sample_rate=16000; dog: .*sample_rate=44100"):
        agreed_geometry({"cat": _lineage(sample_rate=16000), "dog": _lineage()})


def test_no_record_anywhere_is_none_and_a_partial_record_fails():
    assert agreed_geometry({"dog": None, "cat": {"storage": "pcm"}}) is None  # e.g. a benchmark's home
    assert agreed_geometry({}) is None
    with pytest.raises(ValueError) as caught:
        agreed_geometry({"dog": _lineage(), "cat": None, "owl": {}})
    assert str(caught.value) == (
        "no segment geometry in the augmented_segments lineage of cat, owl, but in that of dog: "
        "re-materialize augmented_segments for cat, owl"
    )
    with pytest.raises(ValueError, match="lineage params lack hop_seconds, sample_rate"):
        agreed_geometry({"dog": {"segment_seconds": 7.0, "min_segment_seconds": 1.0}})


def test_run_params_round_trip_and_older_runs_have_none():
    geometry = SegmentGeometry(6.0, 2.0, 0.5, 32000)
    assert from_run_params({**geometry.run_params(), "seed": "0"}) == geometry
    assert from_run_params({"seed": "0"}) is None
    partial = geometry.run_params()
    del partial["segment.sample_rate"]
    assert from_run_params(partial) is None


def test_a_registered_versions_run_gives_its_window(tmp_path: Path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with tracking(uri) as client:
        exp = client.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
        new, old = (client.create_run(exp).info.run_id for _ in range(2))
        params = SegmentGeometry(7.0, 3.5, 1.0, 44100).run_params()
        for key, value in params.items():
            client.log_param(new, key, value)
        client.log_param(old, "seed", "0")
        client.create_registered_model("m")
        v1 = client.create_model_version("m", "file:///nowhere/old", run_id=old)
        v2 = client.create_model_version("m", "file:///nowhere/new", run_id=new)
        v3 = client.create_model_version("m", "file:///nowhere/none")  # no run at all
        assert logged_geometry(client, v2) == SegmentGeometry(7.0, 3.5, 1.0, 44100)
        assert logged_window(client, v2) == WindowParams(7.0, 3.5, 1.0)
        assert logged_window(client, v1) is None
        assert logged_window(client, v3) is None
