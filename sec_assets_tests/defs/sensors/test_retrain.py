"""Retraining once per burst, against a real instance with real runs: five classes whose
features change in one burst retrain each octave exactly once, after the burst settles and no
class run is on; nothing changed, nothing retrains."""

import shutil

import pytest
import soundfile as sf
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    SensorResult,
    build_sensor_context,
    materialize,
)

from sec_assets.core.audio.keys import partition_key_for
from sec_assets.defs import ALL_ASSETS
from sec_assets.defs.sensors.landing import class_features_job
from sec_assets.defs.sensors.retrain import BURST_TAG, STAGE_TAG, retrain_sensor
from sec_assets.local_run import run_everything
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

pytestmark = pytest.mark.slow

SELECTIONS = {  # what each of the sensor's jobs materializes
    "octave_features": ["octave_spectrograms"],
    "retrain_octave": ["trained_classifier", "evaluation_report"],
    "retrain_summary": ["zero_shot_baseline", "octave_comparison"],
}
CLASS_FEATURES = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]


def _run(instance, settings, selection, partition_key=None, tags=None):
    result = materialize(
        ALL_ASSETS,
        selection=selection,
        partition_key=partition_key,
        resources={"sec": SecResource.from_settings(settings)},
        instance=instance,
        tags=tags,
        raise_on_error=True,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    assert result.success


def test_a_burst_of_five_classes_retrains_each_octave_once(
    demo_dataset, make_settings, dagster_home, tmp_path
):
    demo, _ = demo_dataset
    root = tmp_path / "landing"  # a copy: the burst adds files
    shutil.copytree(demo, root)
    settings = make_settings(root, octaves=(1, 3), retrain_settle_seconds=0)
    run_everything(settings, log=False)
    waiting = SecResource.from_settings(settings.model_copy(update={"retrain_settle_seconds": 3600}))
    sec = SecResource.from_settings(settings)
    with DagsterInstance.get() as instance:

        def tick(cursor, resource=sec) -> SensorResult:
            result = retrain_sensor(
                build_sensor_context(instance=instance, resources={"sec": resource}, cursor=cursor)
            )
            assert isinstance(result, SensorResult)
            return result

        def execute(result: SensorResult) -> None:
            for request in result.run_requests:
                _run(instance, settings, SELECTIONS[request.job_name], request.partition_key, request.tags)

        first = tick(None)  # starts from the newest trained model: nothing to do
        assert not first.run_requests and "nothing changed" in first.skip_reason.skip_message
        assert "nothing changed" in tick(first.cursor).skip_reason.skip_message
        classes = sorted(instance.get_dynamic_partitions("audio_class"))
        assert len(classes) == 5
        for i, key in enumerate(classes):  # the burst: a new recording in every class, and its run
            folder = next(p for p in root.iterdir() if p.is_dir() and partition_key_for(p.name) == key)
            sf.write(folder / "landed.wav", tone(500.0 + 100 * i, 3 * 16000, 16000, amplitude=0.3), 16000)
            _run(instance, settings, CLASS_FEATURES, key)
        settling = tick(first.cursor, waiting)
        assert "5 class(es) changed; settling" in settling.skip_reason.skip_message
        # a class run still going: the burst is not over
        job = Definitions(
            assets=ALL_ASSETS, jobs=[class_features_job], resources={"sec": sec}
        ).resolve_job_def("class_features")
        on = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        assert "class_features runs still on" in tick(settling.cursor).skip_reason.skip_message
        instance.delete_run(on.run_id)
        spectrograms = tick(settling.cursor)
        assert sorted(r.partition_key for r in spectrograms.run_requests) == sorted(
            f"{c}|{n}" for c in classes for n in (1, 3)
        )
        # the daemon has not launched them yet: the stage waits for all 10
        assert "stage spectrograms, 0 run(s) on" in tick(spectrograms.cursor).skip_reason.skip_message
        execute(spectrograms)
        train = tick(spectrograms.cursor)
        assert sorted(r.partition_key for r in train.run_requests) == ["1", "3"]
        assert {r.job_name for r in train.run_requests} == {"retrain_octave"}
        again = tick(spectrograms.cursor)  # re-evaluated from the older cursor: the same run keys
        assert [r.run_key for r in again.run_requests] == [r.run_key for r in train.run_requests]
        execute(train)
        summary = tick(train.cursor)
        assert [r.job_name for r in summary.run_requests] == ["retrain_summary"]
        execute(summary)
        done = tick(summary.cursor)
        assert "done: every octave retrained" in done.skip_reason.skip_message
        assert "nothing changed" in tick(done.cursor).skip_reason.skip_message
        # a class run that finds nothing new (a touched file, a manual re-run) keeps its partitions:
        # materializations marked unchanged, and no retraining
        _run(instance, settings, CLASS_FEATURES, classes[0])
        assert "nothing changed" in tick(done.cursor).skip_reason.skip_message
        burst = train.run_requests[0].tags[BURST_TAG]
        runs = instance.get_run_records(RunsFilter(tags={BURST_TAG: burst, STAGE_TAG: "train"}))
        assert len(runs) == 2  # one retraining run per octave
        trained = instance.fetch_materializations(AssetKey("trained_classifier"), limit=100).records
        assert sorted(r.partition_key for r in trained) == [
            "1",
            "1",
            "3",
            "3",
        ]  # run_everything's + the burst's
