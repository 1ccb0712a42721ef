"""Inference through the training code path: on the demo's own test files, windows cut with the
champion's logged training segments get exactly the stored features, and the champion scores them
exactly as the evaluation report did."""

from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
import torch

from sec_assets.core.features import clap, clap_store
from sec_assets.core.hashing import file_sha256
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.windows import WindowParams, grade, logged_window, recording_windows
from sec_assets.core.landing.scan import listing
from sec_assets.core.models.data import load_segment_data
from sec_assets.core.store import catalog
from sec_assets.core.tracking.registry import load_alias, score
from sec_assets.core.tracking.store import tracking
from sec_assets.local_run import run_everything

pytestmark = pytest.mark.slow


def test_inference_on_test_files_reproduces_the_evaluation_exactly(demo_dataset, make_settings, dagster_home):
    root, _ = demo_dataset
    settings = make_settings(root, octaves=(3,))
    run_everything(settings, log=False)
    home = settings.home
    files = catalog.query(
        home,
        "SELECT a.path, a.sha256, a.partition_key FROM audio_files a JOIN splits s "
        "ON s.source_sha256 = a.sha256 AND s.partition_key = a.partition_key "
        "WHERE s.split = 'test' AND a.status = 'ok' ORDER BY a.path",
    )
    assert files.height >= 5
    expected = pl.read_parquet(home / "reports" / "octave=3" / "test_predictions.parquet")
    classes = sorted(set(expected["label"]))
    stored = load_segment_data(home, 3, classes, ("test",))
    training = settings.segment_params()
    torch.set_num_threads(2)  # as the step ran here
    model_files = clap_store.resolve_model_files(settings.model_store, allow_random_init=True)
    featurizer = Featurizer(
        clap.load_clap(model_files, device="cpu"),
        [settings.level_params(3)],
    )
    with tracking(settings.tracking_uri) as client:
        champion, version = load_alias("sec-classifier-oct3", "champion")
        registered = client.get_model_version("sec-classifier-oct3", version)
        window = logged_window(client, registered)  # what training logged, read back
        child = client.get_run(registered.run_id).data
        parent = client.get_run(child.tags["mlflow.parentRunId"]).data.params
    expected_params = {
        "segment.segment_seconds": "7.0",
        "segment.hop_seconds": "7.0",
        "segment.min_segment_seconds": "1.0",
        "segment.sample_rate": "44100",
    }
    assert {k: v for k, v in child.params.items() if k.startswith("segment.")} == expected_params
    assert {k: v for k, v in parent.items() if k.startswith("segment.")} == expected_params
    assert window == WindowParams.of_segments(training) == WindowParams(7.0, 7.0, 1.0)
    got: dict[tuple[str, int], np.ndarray] = {}
    features: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for path, sha in files.select("path", "sha256").iter_rows():
        source, _ = grade(Path(path), Path(path).parent, settings.file_policy())
        assert source is not None and source.sha256 == sha
        for rows in recording_windows(source, window.segment_params(training)):
            data, failures = featurizer.features(rows)
            assert failures == []
            proba, columns = score(champion, data[3])
            assert columns == classes
            np.testing.assert_allclose(proba.sum(axis=1), 1.0)
            for i, key in enumerate(data[3].segment_keys):
                _, sha20, _, index = key.split(":")
                got[(sha20, int(index))] = proba[i]
                features[(sha20, int(index))] = (data[3].embedding[i], data[3].levels[i])
    assert version == "1"
    stored_at = {(k.split(":")[1], int(k.split(":")[3])): i for i, k in enumerate(stored.segment_keys)}
    assert set(got) == set(stored_at)  # the same windows as the stored test segments
    for key, i in stored_at.items():
        assert np.array_equal(features[key][0], stored.embedding[i]), key  # same CLAP vector, bit for bit
        assert np.array_equal(features[key][1], stored.levels[i]), key  # same band levels
    for key, probabilities in zip(expected["segment_key"], expected["probabilities"], strict=True):
        _, sha20, _, index = key.split(":")
        assert np.array_equal(got[(sha20, int(index))], np.asarray(probabilities)), key
    assert mlflow.get_registry_uri()  # (the champion was read through the registry)


def _inbox_run(settings):
    from sec_assets.local_run import label_inbox

    return label_inbox(settings)


def test_the_inbox_is_labelled_once_with_tables_a_catalog_view_and_failures(
    demo_dataset, make_settings, dagster_home, tmp_path
):
    import csv
    import shutil

    import soundfile as sf

    from sec_assets.core.inference.tables import RAVEN_COLUMNS
    from sec_assets.testing.signals import tone

    root, _ = demo_dataset
    box = tmp_path / "inbox"
    (box / "site_a").mkdir(parents=True)
    sf.write(box / "site_a" / "field.wav", tone(440.0, 60 * 16000, 16000, amplitude=0.3), 16000)
    some_file = next(p for p in sorted((root / "chirp").rglob("*")) if p.suffix in (".wav", ".flac"))
    shutil.copy(some_file, box / "copy.wav")
    (box / "broken.wav").write_text("this is not audio")
    (box / "upload.wav.part").write_bytes(b"RIFF")  # still being written: not picked
    (box / ".hidden.wav").write_bytes(b"RIFF")
    settings = make_settings(root, octaves=(3,), inbox=box, top_k=2, min_confidence=0.0)
    run_everything(settings, log=False)
    home = settings.home
    meta = _inbox_run(settings)
    assert (meta["recordings"], meta["labelled"], meta["failed"], meta["skipped_done"]) == (3, 2, 1, 0)
    assert meta["models"] == "sec-classifier-oct3 v1" and meta["real_time_factor"] > 0
    rows = catalog.query(home, "SELECT * FROM predictions ORDER BY path, window_index, rank")
    lineage = catalog.query(home, "SELECT * FROM lineage WHERE asset = 'inbox_predictions'")
    combined = home / "predictions" / "combined.parquet"
    assert lineage.height == 1 and meta["path"] == str(combined)  # one row, written by finish
    assert lineage["output_fingerprint"][0] == meta["output_fingerprint"] == file_sha256(combined)
    assert lineage["rows"][0] == meta["rows"] == rows.height
    assert lineage["code_version"][0] == meta["code_version"]  # the format of every other asset
    assert meta["code_version"].endswith("/inbox_predictions-v3")
    # the champion's own training segments (7 s every 7 s), no warning, recorded in every row
    assert meta["window"] == "7.0 s every 7.0 s (the champion's training segments)"
    assert meta["window_warning"] == "none"
    assert rows.select("window_seconds", "hop_seconds").unique().rows() == [(7.0, 7.0)]
    field = rows.filter(pl.col("path").str.ends_with("field.wav"))
    assert field["window_index"].unique().sort().to_list() == list(range(9))  # 60 s: 8 × 7 s + 4 s
    assert field.height == 9 * 2 and set(field["rank"]) == {1, 2}
    assert field.filter(pl.col("window_index") == 8)[["start_s", "end_s"]].row(0) == (56.0, 60.0)
    per_window = rows.group_by("recording_sha256", "window_index").agg(pl.col("probability").sum())
    assert (per_window["probability"] <= 1.0 + 1e-9).all()
    assert set(rows["label"]) <= {"tone", "chirp", "noise burst", "click", "harmonic_hum"}
    out = home / "predictions"
    table = (out / "site_a" / "field.wav.oct3.csv").read_text().splitlines()
    assert table[0] == "start_s,end_s,label,probability" and len(table) == 1 + 18
    with open(out / "site_a" / "field.wav.oct3.selection.table.txt") as fh:
        raven = list(csv.DictReader(fh, delimiter="\t"))
    assert len(raven) == 18 and tuple(raven[0]) == RAVEN_COLUMNS
    combined = pl.read_parquet(out / "combined.parquet")
    assert combined.height == rows.height
    failed = catalog.query(home, "SELECT path, reason FROM failures WHERE asset = 'inbox_predictions'")
    assert failed["path"].to_list() == [str(box / "broken.wav")]
    assert failed["reason"][0].startswith("not audio")
    # a re-run with the same champion and settings does nothing and duplicates nothing
    again = _inbox_run(settings)
    assert (again["labelled"], again["skipped_done"]) == (0, 2)
    assert catalog.query(home, "SELECT count(*) FROM predictions").item() == rows.height
    # other settings: every recording is labelled again, its rows replaced; a window set by hand
    # is used, and warned about as it is not the champion's training segments
    wider = _inbox_run(settings.model_copy(update={"top_k": 3, "window_seconds": 5.0}))
    assert wider["labelled"] == 2
    assert wider["window"] == "5.0 s every 5.0 s (window_seconds / window_hop_seconds set by hand)"
    assert wider["window_warning"] == (
        "the window set by hand (window_seconds=5.0, window_hop_seconds=5.0) differs from the "
        "training segments of sec-classifier-oct3 v1 (7.0 s every 7.0 s): they score features of a "
        "length they never saw; unset window_seconds and window_hop_seconds to use the champion's own."
    )
    field = catalog.query(home, "SELECT * FROM predictions WHERE path LIKE '%field.wav'")
    assert field.height == 12 * 3  # 60 s at 5 s / 5 s, top-3
    assert field.select("window_seconds", "hop_seconds").unique().rows() == [(5.0, 5.0)]

    # the inbox sensor's runs: each covers the folders that settled, checked again by the run
    from dagster import DagsterInstance, build_sensor_context

    from sec_assets.defs.sensors.inbox import inbox_sensor
    from sec_assets.local_run import label_inbox
    from sec_assets.resources import SecResource

    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:

        def tick(cursor):
            result = inbox_sensor(
                build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor)
            )
            return result, (
                result.run_requests[0].run_config["ops"]["inbox_predictions"]["config"]
                if result.run_requests
                else None
            )

        first, _ = tick(None)
        second, config = tick(first.cursor)
        assert config is not None and set(config["folders"]) == {".", "site_a"}
        sf.write(box / "site_a" / "late.wav", tone(660.0, 10 * 16000, 16000, amplitude=0.3), 16000)
        meta = label_inbox(settings, config)  # site_a changed after the tick: left for the next one
        assert (meta["labelled"], meta["failed"], meta["waiting"], meta["skipped_done"]) == (1, 1, 1, 1)
        third, config = tick(second.cursor)
        assert config is None  # site_a is settling
        fourth, config = tick(third.cursor)
        assert config == {"whole_inbox": False, "folders": {"site_a": listing(box / "site_a")[0]}}
        meta = label_inbox(settings, config)
        assert (meta["labelled"], meta["waiting"], meta["removed"]) == (2, 1, 0)
        late = catalog.query(home, "SELECT count(*) FROM predictions WHERE path LIKE '%late.wav'").item()
        assert late == 2 * 2  # 10 s: two windows, top-2
        copy_sha = catalog.query(
            home, "SELECT DISTINCT recording_sha256 FROM predictions WHERE path LIKE '%copy.wav'"
        ).item()
        (box / "copy.wav").unlink()  # a recording removed: its labels go with the next run
        fifth, _ = tick(fourth.cursor)
        _, config = tick(fifth.cursor)
        assert config is not None and set(config["folders"]) == {"."}
        meta = label_inbox(settings, config)
        assert (meta["labelled"], meta["removed"]) == (0, 1)
    left = catalog.query(home, "SELECT recording_sha256, count(*) AS n FROM predictions GROUP BY ALL")
    assert copy_sha not in left["recording_sha256"].to_list() and left.height == 2
    assert pl.read_parquet(out / "combined.parquet").height == left["n"].sum()


def test_kill_9_mid_inbox_then_the_rerun_leaves_no_duplicate_or_missing_rows(
    demo_dataset, make_settings, dagster_home, tmp_path
):
    import os
    import signal
    import subprocess
    import sys
    import time

    import soundfile as sf

    from sec_assets.testing.signals import tone

    root, _ = demo_dataset
    box = tmp_path / "inbox"
    box.mkdir()
    for i in range(8):
        sf.write(box / f"rec{i}.wav", tone(300.0 + 40 * i, 20 * 16000, 16000, amplitude=0.3), 16000)
    settings = make_settings(root, octaves=(3,), inbox=box)
    run_everything(settings, log=False)
    env = {
        **os.environ,
        "SEC_HOME": str(settings.home),
        "SEC_AUDIO_ROOT": str(root),
        "SEC_MODELS": str(settings.model_store),
        "SEC_INBOX": str(box),
        "SEC_OCTAVES": "3",
        "SEC_ALLOW_RANDOM_INIT": "1",
        "DAGSTER_HOME": str(dagster_home),
    }
    args = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "sec_assets.definitions",
    ]
    args += ["--select", "inbox_predictions"]
    # 3 windows a batch: each recording ends in its own batch, so the markers come one by one
    args += ["--config-json", '{"resources": {"sec": {"config": {"inference_batch_windows": 3}}}}']
    done_dir = settings.home / "predictions" / ".done"
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(done_dir.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: no clean-up runs anywhere
    proc.wait()
    killed_at = len(list(done_dir.glob("*.json")))
    assert 3 <= killed_at < 8, "the run finished before it could be killed"
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    rows = catalog.query(settings.home, "SELECT * FROM predictions")
    assert rows["recording_sha256"].n_unique() == 8
    keys = rows.select("recording_sha256", "octave", "window_index", "rank")
    assert keys.height == keys.unique().height  # no duplicated row
    windows = rows.group_by("recording_sha256").agg(pl.col("window_index").n_unique().alias("n"))
    assert windows["n"].to_list() == [3] * 8  # 20 s at 7 s (the training segments): 2 + a 6-s tail
    assert len(list(done_dir.glob("*.json"))) == 8
