"""materialize() tests with hostile and unusual audio: the bad-input set through every per-class
step, an empty class through the whole graph, one bad stored segment, and 400 sub-second clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf
from dagster import AssetCheckSeverity, DagsterInstance, materialize

from sec_assets.core.audio.segments import AUDIO_DTYPE, decode_audio
from sec_assets.core.store import catalog, storage
from sec_assets.defs import ALL_ASSETS
from sec_assets.instance import register_classes
from sec_assets.local_run import run_everything
from sec_assets.partitions import class_octave_key
from sec_assets.resources import SecResource
from sec_assets.testing.bad_audio import write_bad_inputs
from sec_assets.testing.short_clips import write_spoken_digits
from sec_assets.testing.signals import tone

pytestmark = pytest.mark.slow
PER_CLASS = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]


def _run(settings, selection: list[str], partition_key: str | None, expect_success: bool = True, tags=None):
    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=expect_success,
            tags=tags,
        )
    assert result.success == expect_success
    return result


def _check(result, name: str = "has_segments"):
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == name]
    return check


def _metadata(result, asset: str) -> dict:
    mats = [m for m in result.asset_materializations_for_node(asset)]
    assert len(mats) == 1
    return {k: v.value for k, v in mats[0].metadata.items()}


def _good_class(folder: Path, files: int, base_hz: float) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(int(base_hz))
    for i in range(files):
        x = tone(base_hz * (1 + 0.05 * i), 16000 * 3, 16000, 0.3) + 0.01 * rng.standard_normal(48000)
        sf.write(folder / f"rec_{i}.flac", x.astype(np.float32), 16000)


def _good_and_empty(tmp_path: Path, make_settings, good: dict[str, tuple[int, float]], empty: str):
    """A landing folder with good classes (name → files, base frequency) and one class whose only
    file is empty; settings for octave 3, the classes registered."""
    root = tmp_path / "landing"
    for name, (files, hz) in good.items():
        _good_class(root / name, files, hz)
    (root / empty).mkdir()
    (root / empty / "empty.wav").write_bytes(b"")
    settings = make_settings(root, octaves=(3,))
    register_classes(settings)
    return settings


def _finite_everywhere(home: Path) -> tuple[int, int, int]:
    """Decode every stored segment, embedding and spectrogram: all finite; return their counts."""
    segments = catalog.query(home, "SELECT count(*) FROM segments").item()
    for path in storage.table_dir(home, "augmented_segments").rglob("part-*.parquet"):
        for audio in pl.read_parquet(path, columns=["audio"])["audio"]:
            assert np.all(np.isfinite(decode_audio(audio)))
    emb = catalog.query(home, "SELECT embedding FROM embeddings")
    vectors = np.array(emb["embedding"].to_list(), dtype=np.float32)
    assert np.all(np.isfinite(vectors))
    spec = catalog.query(home, "SELECT levels_db FROM spectrograms")
    assert all(np.all(np.isfinite(np.asarray(v))) for v in spec["levels_db"])
    return segments, emb.height, spec.height


def test_the_bad_input_set_passes_every_per_class_step(tmp_path, make_settings, dagster_home):
    root = tmp_path / "landing"
    entries = write_bad_inputs(root / "hostile")
    _good_class(root / "good", 2, 500.0)
    settings = make_settings(root, octaves=(3,))
    register_classes(settings)
    for key in ("hostile", "good"):
        result = _run(settings, PER_CLASS, key)
        check = _check(result)
        assert check.passed and check.metadata["empty_classes"].value == "none"
        assert _check(result, "no_file_in_two_splits").passed
        _run(settings, ["octave_spectrograms"], str(class_octave_key(key, 3)))
    home = settings.home
    manifest = catalog.query(home, "SELECT * FROM audio_files WHERE partition_key = 'hostile'")
    by_path = {r["relative_path"]: r for r in manifest.iter_rows(named=True)}
    graded = [e for e in entries if e.expect != "ignored"]
    assert sorted(by_path) == sorted(e.relative_path for e in graded)
    assert all(by_path[e.relative_path]["status"] == e.expect for e in graded)
    # segments per source file as expected (duplicates share one sha256: one file's segments)
    per_sha = dict(
        catalog.query(
            home, "SELECT source_sha256, count(*) FROM segments WHERE partition_key = 'hostile' GROUP BY 1"
        ).iter_rows()
    )
    expected = {by_path[e.relative_path]["sha256"]: e.segments for e in graded if e.expect == "ok"}
    assert per_sha == expected
    assert sum(per_sha.values()) == 86 + 16  # the 10-minute file and 16 distinct short files
    # the NaN file next to good files: it is failed with the reason; every good file is all there
    nan = by_path["nan.wav"]
    assert nan["status"] == "failed" and nan["error"].startswith("312 NaN samples at 0.040–0.079 s")
    counts = catalog.query(
        home,
        """SELECT s.n AS segments, e.n AS embeddings, p.n AS spectrograms FROM
        (SELECT count(*) AS n FROM segments WHERE partition_key = 'hostile') s,
        (SELECT count(*) AS n FROM embeddings WHERE partition_key = 'hostile') e,
        (SELECT count(*) AS n FROM spectrograms WHERE partition_key = 'hostile') p""",
    ).row(0)
    assert counts == (102, 102, 102)
    assert _finite_everywhere(home) == (102 + 2, 102 + 2, 102 + 2)
    huge_sha = by_path["huge.wav"]["sha256"]
    huge = catalog.query(home, f"SELECT DISTINCT repair FROM segments WHERE source_sha256 = '{huge_sha}'")
    assert huge.height == 1 and "scaled by" in huge.item()
    assert catalog.query(home, "SELECT count(*) FROM failures").item() == 0


def test_an_empty_class_flows_through_the_whole_graph(tmp_path, make_settings, dagster_home):
    root = tmp_path / "landing"
    _good_class(root / "low", 4, 300.0)
    _good_class(root / "high", 4, 2000.0)
    empty = root / "all_bad"
    empty.mkdir()
    sf.write(empty / "click.wav", np.ones(40, dtype=np.float32) * 0.5, 8000)  # 5 ms: too short
    (empty / "notes.mp3").write_text("not audio")
    settings = make_settings(root, octaves=(3,))
    register_classes(settings)
    result = _run(settings, PER_CLASS, "all_bad")
    seg = _metadata(result, "augmented_segments")
    assert seg["segments"] == 0 and seg["rows"] == 0
    assert "'all_bad' (all_bad) has NO segments: 2 files, 0 usable, 2 failed" in seg["warning"]
    assert "1× too short" in seg["warning"] and "1× not audio" in seg["warning"]
    check = _check(result)
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["empty_classes"].value == "all_bad"
    assert _metadata(result, "clap_embeddings")["segments"] == 0
    run_everything(settings, log=False)  # every other step, the empty class included
    home = settings.home
    lineage = catalog.query(
        home, "SELECT asset, partition_key, rows FROM lineage WHERE partition_key LIKE 'all_bad%' ORDER BY 1"
    ).rows()
    assert lineage == [
        ("augmented_segments", "all_bad", 0),
        ("clap_embeddings", "all_bad", 0),
        ("octave_spectrograms", "all_bad|3", 0),
        ("raw_manifest", "all_bad", 2),
        ("splits", "all_bad", 0),
    ]
    model = catalog.query(home, "SELECT classes FROM models WHERE octave = 3 AND selected").item()
    assert model.to_list() == ["high", "low"]
    assert catalog.query(home, "SELECT count(*) FROM evaluations WHERE octave = 3 AND selected").item() == 2
    zs = catalog.query(home, "SELECT status, classes FROM zero_shot").row(0)
    assert zs == ("ok", 3)


def test_training_on_one_class_with_segments_says_why_it_cannot_run(tmp_path, make_settings, dagster_home):
    settings = _good_and_empty(tmp_path, make_settings, {"low": (4, 300.0)}, "all_bad")
    for key in ("all_bad", "low"):
        _run(settings, PER_CLASS, key)
        _run(settings, ["octave_spectrograms"], str(class_octave_key(key, 3)))
    failed = _run(settings, ["trained_classifier"], "3", expect_success=False)
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    text = failure.step_failure_data.error.message
    assert "needs at least 2 classes with training segments, there are 1 (low)" in text
    assert "classes without: all_bad" in text
    assert not [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # no retry


def test_one_bad_stored_segment_never_loses_the_class(tmp_path, make_settings, dagster_home):
    root = tmp_path / "landing"
    _good_class(root / "birds", 3, 700.0)
    settings = make_settings(root, octaves=(3,))
    register_classes(settings)
    _run(settings, ["raw_manifest", "splits", "augmented_segments"], "birds")
    home = settings.home
    dims = {"audio_class": "birds"}
    stored = storage.read_partition(home, "augmented_segments", dims).sort("segment_key")
    bad_key = stored["segment_key"][1]
    poisoned = np.zeros(len(stored["audio"][1]) // 2, dtype=AUDIO_DTYPE)
    poisoned[1000:1010] = np.nan  # as an older version could have stored it
    audio = [
        poisoned.tobytes() if k == bad_key else a
        for k, a in zip(stored["segment_key"], stored["audio"], strict=True)
    ]
    storage.write_partition(home, "augmented_segments", dims, stored.with_columns(pl.Series("audio", audio)))
    emb = _metadata(_run(settings, ["clap_embeddings"], "birds"), "clap_embeddings")
    spec = _metadata(_run(settings, ["octave_spectrograms"], "birds|3"), "octave_spectrograms")
    assert (emb["segments"], emb["segments_failed"]) == (stored.height - 1, 1)
    assert (spec["segments"], spec["segments_failed"]) == (stored.height - 1, 1)
    failures = catalog.query(
        home, "SELECT asset, partition_key, segment_key, reason FROM failures ORDER BY 1"
    ).rows()
    assert failures == [
        (
            "clap_embeddings",
            "birds",
            bad_key,
            "cannot prepare for CLAP: signal contains NaN or infinite samples",
        ),
        (
            "octave_spectrograms",
            "birds|3",
            bad_key,
            "10 non-finite samples in the stored segment: re-materialize augmented_segments",
        ),
    ]
    kept = catalog.query(home, "SELECT segment_key FROM embeddings ORDER BY 1")["segment_key"].to_list()
    assert kept == [k for k in stored["segment_key"] if k != bad_key]
    # re-materializing the segments repairs the store; the failures are replaced, not appended
    _run(settings, ["augmented_segments", "clap_embeddings"], "birds")
    _run(settings, ["octave_spectrograms"], "birds|3")
    assert catalog.query(home, "SELECT count(*) FROM failures").item() == 0
    assert catalog.query(home, "SELECT count(*) FROM embeddings").item() == stored.height


def test_four_hundred_sub_second_clips_with_default_settings(tmp_path, make_settings, dagster_home):
    root = tmp_path / "landing"
    clips = write_spoken_digits(root)  # 10 classes × 40 clips of 0.14–0.87 s at 8 kHz
    assert sum(clips.values()) == 400
    settings = make_settings(root, octaves=(3,))  # default segment settings; one resolution for time
    run_everything(settings, log=False)
    home = settings.home
    seg = catalog.query(
        home,
        "SELECT count(*), count(DISTINCT source_sha256), bool_and(padded), max(duration_s) FROM segments",
    ).row(0)
    assert seg[0] == 400 and seg[1] == 400 and seg[2] is True and seg[3] < 0.88  # one padded segment per clip
    assert catalog.query(home, "SELECT count(*) FROM embeddings").item() == 400
    assert catalog.query(home, "SELECT count(*) FROM audio_files WHERE status = 'ok'").item() == 400
    files = dict(catalog.query(home, "SELECT split, count(*) FROM splits GROUP BY 1").rows())
    assert sum(files.values()) == 400 and 200 <= files["train"] <= 280  # 60 % in expectation
    model = catalog.query(home, "SELECT classes, n_train FROM models WHERE octave = 3 AND selected").row(0)
    assert len(model[0]) == 10 and model[1] == files["train"]  # one segment per clip
    test = catalog.query(
        home, "SELECT n, accuracy, report_path FROM evaluations WHERE split = 'test' AND selected"
    ).row(0)
    assert test[0] == files["test"] and test[1] >= 0.9 and Path(test[2]).is_file()  # chance is 0.1


def test_a_backfill_range_names_its_empty_classes(tmp_path, make_settings, dagster_home):
    settings = _good_and_empty(tmp_path, make_settings, {"a_good": (1, 400.0)}, "b_empty")
    range_tags = {
        "dagster/asset_partition_range_start": "a_good",
        "dagster/asset_partition_range_end": "b_empty",
    }
    result = _run(settings, ["raw_manifest", "splits", "augmented_segments"], None, tags=range_tags)
    check = _check(result)  # one result for the range, as single_run() launches it
    assert not check.passed and check.description == "1 of 2 classes have no segments: b_empty"
    mats = result.asset_materializations_for_node("augmented_segments")
    assert sorted(m.partition for m in mats) == ["a_good", "b_empty"]  # one event per partition
    meta = {k: v.value for k, v in mats[0].metadata.items()}
    assert (
        meta["partitions"] == 2
        and "| b_empty | class 'b_empty' (b_empty) has NO segments" in meta["warnings"]
    )
