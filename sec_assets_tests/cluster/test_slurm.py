"""The submitit executor on a real Slurm cluster (scripts/local_slurm.sh: 4 nodes, fake GPUs as GRES,
slurmdbd + MariaDB), driven through ``dagster asset materialize`` as a user would."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from sec_assets.demo.data import write_demo_dataset
from sec_assets_tests.cluster.helpers import (
    launch,
    run_events,
    settled,
    settled_states,
    wait_for_step_start,
)

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_class_partition_runs_one_slurm_job_per_step_on_the_right_nodes(cluster_env, tmp_path):
    write_demo_dataset(tmp_path / "landing", files_per_class=2)
    scan = subprocess.run([str(BIN / "sec-assets"), "scan"], env=cluster_env, capture_output=True, text=True)
    assert scan.returncode == 0, scan.stderr
    done = launch(
        cluster_env,
        "sec_assets.definitions",
        "raw_manifest,splits,augmented_segments,clap_embeddings",
        "tone",
    ).communicate(timeout=600)[0]
    assert "RUN_SUCCESS" in done, done[-4000:]
    spectra = launch(cluster_env, "sec_assets.definitions", "octave_spectrograms", "tone|3").communicate(
        timeout=600
    )[0]
    assert "RUN_SUCCESS" in spectra, spectra[-4000:]
    with DagsterInstance.get() as instance:
        assert "PostgresRunStorage" in type(instance.run_storage).__name__  # the cluster profile
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.is_success for r in runs)
        jobs = {}
        for run in runs:
            for row in settled(f"sec-{run.run_id[:8]}-"):
                jobs[row["JobName"].split("-", 2)[2]] = row
        steps = [
            "raw_manifest-a0",
            "splits-a0",
            "augmented_segments-a0",
            "clap_embeddings-a0",
            "octave_spectrograms-a0",
        ]
        assert sorted(jobs) == sorted(steps)  # every step its own job, sacct proves it
        assert len({j["JobID"] for j in jobs.values()}) == 5
        assert all(j["State"] == "COMPLETED" and j["ExitCode"] == "0:0" for j in jobs.values()), jobs
        assert jobs["clap_embeddings-a0"]["NodeList"] in ("gpu1", "gpu2")
        assert "gres/gpu=1" in jobs["clap_embeddings-a0"]["AllocTRES"]
        for step in ("raw_manifest-a0", "splits-a0", "augmented_segments-a0", "octave_spectrograms-a0"):
            assert jobs[step]["NodeList"] in ("cpu1", "cpu2") and "gres/gpu" not in jobs[step]["AllocTRES"]
        assert "cpu=2" in jobs["octave_spectrograms-a0"]["AllocTRES"]  # the asset's sec/resources tag
        # the step's own metadata: where it ran, and the GPU Slurm gave it
        event = instance.get_latest_materialization_event(AssetKey("clap_embeddings"))
        meta = event.asset_materialization.metadata
        assert meta["slurm_node"].value in ("gpu1", "gpu2") and meta["cuda_visible_devices"].value in (
            "0",
            "1",
        )
        assert meta["slurm_job_id"].value == jobs["clap_embeddings-a0"]["JobID"]
        assert meta["torch_threads"].value == 1  # from SLURM_CPUS_PER_TASK
        # sacct figures after each job, and the job's log files, in the run's log
        engine = [
            e
            for run in runs
            for e in run_events(instance, run.run_id, DagsterEventType.ENGINE_EVENT)
            if e.step_key == "clap_embeddings"
        ]
        finished = [e for e in engine if e.message and e.message.startswith("Slurm job ")]
        assert finished and "COMPLETED" in finished[0].message and "gres/gpu=1" in finished[0].message
        meta = finished[0].engine_event_data.metadata
        assert Path(meta["stderr"].value).is_file()
        assert "STEP_SUCCESS" in meta["stderr_tail"].value  # the job's log, readable in the UI


def test_scancel_becomes_a_clear_failure_and_the_retry_succeeds(cluster_env, tmp_path):
    env = {**cluster_env, "SEC_TEST_SLEEP_S": "120"}
    proc = launch(env, "sec_assets_tests.cluster.slurm_defs", "sleepy")
    job_id = wait_for_step_start(tmp_path / "submitit", "-sleepy-a0")
    subprocess.run(["scancel", job_id], check=True)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0 and "RUN_SUCCESS" in out, out[-4000:]
    with DagsterInstance.get() as instance:
        run = instance.get_runs()[0]
        retries = run_events(instance, run.run_id, DagsterEventType.STEP_UP_FOR_RETRY)
        assert len(retries) == 1
        message = retries[0].step_retry_data.error.message
        assert f"Slurm job {job_id}" in message and "CANCELLED" in message and "stderr tail" in message
        meta = instance.get_latest_materialization_event(AssetKey("sleepy")).asset_materialization.metadata
        assert meta["attempt"].value == 1
    states = settled_states(f"sec-{run.run_id[:8]}-sleepy")
    assert states["a0"].startswith("CANCELLED") and states["a1"] == "COMPLETED"


def test_cancelling_the_run_leaves_no_slurm_job(cluster_env, tmp_path):
    env = {**cluster_env, "SEC_TEST_SLEEP_S": "300"}
    proc = launch(env, "sec_assets_tests.cluster.slurm_defs", "sleepy")
    wait_for_step_start(tmp_path / "submitit", "-sleepy-a0")
    proc.send_signal(signal.SIGINT)  # what Dagster's run termination does to the run worker
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    with DagsterInstance.get() as instance:
        run = instance.get_runs()[0]
    prefix = f"sec-{run.run_id[:8]}-"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        queued = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True).stdout
        if prefix not in queued:
            break
        time.sleep(0.5)
    assert prefix not in queued, f"jobs left behind: {queued}\n{out[-2000:]}"
    assert all(s.startswith("CANCELLED") for s in settled_states(prefix).values())


def test_time_limit_fails_with_a_clear_message(cluster_env):
    env = {**cluster_env, "SEC_SLURM_SIGNAL_DELAY_S": "45"}
    proc = launch(env, "sec_assets_tests.cluster.slurm_defs", "over_time")
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0
    with DagsterInstance.get() as instance:
        run = instance.get_runs()[0]
        failures = run_events(instance, run.run_id, DagsterEventType.STEP_FAILURE)
    assert len(failures) == 1, out[-3000:]
    text = failures[0].step_failure_data.error.to_string()  # the asset's exception is in the cause
    # Slurm delivers the early signal on its periodic time-limit check: usually the step stops
    # itself (SlurmTimeLimitError); if the check comes too late, the job ends TIMEOUT; if it comes
    # while the job's interpreter is still starting (a 1-minute limit, 45 s signal delay and a
    # loaded machine), srun reports the task killed by USR2. The executor says which, and every
    # message names the time limit and the knob to raise.
    stopped = "SlurmTimeLimitError" in text and "Slurm time limit" in text
    at_start = "ended FAILED" in text and "signalled the time limit while the job was still starting" in text
    assert stopped or "ended TIMEOUT" in text or at_start, text
    assert "time limit" in text and "time_min" in text


def test_backfill_of_20_classes_is_one_run_of_three_jobs(cluster_env, tmp_path):
    import soundfile as sf

    from sec_assets.core.store import catalog
    from sec_assets.executor import recorded_job
    from sec_assets.testing.signals import tone

    names = [f"c{i:03d}" for i in range(20)]
    for i, name in enumerate(names):
        (tmp_path / "landing" / name).mkdir(parents=True)
        sf.write(
            tmp_path / "landing" / name / "a.wav",
            tone(200.0 + 10 * i, 2 * 16000, 16000, amplitude=0.3),
            16000,
        )
    subprocess.run([str(BIN / "sec-assets"), "scan"], env=cluster_env, check=True, capture_output=True)
    args = [str(BIN / "dagster"), "asset", "materialize", "-m", "sec_assets.definitions"]
    args += [
        "--select",
        "raw_manifest,splits,augmented_segments,clap_embeddings",
        "--partition-range",
        f"{names[0]}...{names[-1]}",
    ]
    # K = 0: the per-class assets have BackfillPolicy.single_run(), which --partition-range needs
    env = {**cluster_env, "SEC_CLASSES_PER_RUN": "0"}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "RUN_SUCCESS" in out, out[-4000:]
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1  # the whole range in one run (BackfillPolicy.single_run)
        run = runs[0]
        for asset in ("raw_manifest", "splits", "augmented_segments", "clap_embeddings"):
            assert instance.get_materialized_partitions(AssetKey(asset)) == set(names)
        # an orchestrator that restarted finds the step's job again in the event log
        again = recorded_job(instance, run.run_id, "clap_embeddings", tmp_path / "submitit")
    jobs = settled(f"sec-{run.run_id[:8]}-")
    assert sorted(j["JobName"].split("-", 2)[2] for j in jobs) == [
        "augmented_segments-a0",
        "clap_embeddings-a0",
        "raw_manifest-a0",
        "splits-a0",
    ]  # four Slurm jobs for 20 partitions, not 80
    assert all(j["State"] == "COMPLETED" for j in jobs)
    clap_job = next(j for j in jobs if "clap_embeddings" in j["JobName"])
    assert again is not None and again.job_id == clap_job["JobID"] and again.stderr.is_file()
    lineage = catalog.query(
        tmp_path / "home",
        "SELECT asset, count(DISTINCT partition_key) AS n FROM lineage GROUP BY 1 ORDER BY 1",
    )
    assert dict(lineage.iter_rows()) == {
        "augmented_segments": 20,
        "clap_embeddings": 20,
        "raw_manifest": 20,
        "splits": 20,
    }


def test_octaves_train_concurrently_on_nodes_and_log_to_one_mlflow_server(cluster_env, tmp_path):
    """Two octaves' training + evaluation at once, each step a Slurm job, all logging to the MLflow
    server (Postgres backend): every run, metric, model version and link arrives."""
    from dagster import AssetRecordsFilter, materialize
    from mlflow.tracking import MlflowClient

    from sec_assets.core.settings import load_settings
    from sec_assets.core.store import catalog
    from sec_assets.defs import ALL_ASSETS
    from sec_assets.partitions import class_octave_key
    from sec_assets.resources import SecResource

    experiment = f"cluster-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "sec.yaml"
    config.write_text(
        f"mlflow_experiment: {experiment}\noctaves: [3, 12]\nbootstrap_resamples: 50\n"
        "candidates: [{features: clap, head: linear}, {features: octave_stats, head: mlp}]\n"
    )
    env = {**cluster_env, "SEC_CONFIG": str(config)}
    write_demo_dataset(tmp_path / "landing", files_per_class=3)
    subprocess.run([str(BIN / "sec-assets"), "scan"], env=env, check=True, capture_output=True)
    settings = load_settings(env=env)
    resources = {"sec": SecResource.from_settings(settings)}
    with DagsterInstance.get() as instance:  # the per-class steps in-process; training on the cluster
        classes = sorted(instance.get_dynamic_partitions("audio_class"))
        for key in classes:
            for selection, partition in [
                (["raw_manifest", "splits", "augmented_segments", "clap_embeddings"], key),
                (["octave_spectrograms"], str(class_octave_key(key, 3))),
                (["octave_spectrograms"], str(class_octave_key(key, 12))),
            ]:
                assert materialize(
                    ALL_ASSETS,
                    selection=selection,
                    partition_key=partition,
                    resources=resources,
                    instance=instance,
                ).success
    procs = [
        launch(env, "sec_assets.definitions", "trained_classifier,evaluation_report", octave)
        for octave in ("3", "12")
    ]
    for out in [p.communicate(timeout=900)[0] for p in procs]:
        assert "RUN_SUCCESS" in out, out[-4000:]
    uri = cluster_env["SEC_MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri, registry_uri=uri)  # explicit: never the process-global registry
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 2 * (1 + 2)  # a parent run per octave, a child per candidate
    assert sorted(r.data.params["octave"] for r in runs) == ["12"] * 3 + ["3"] * 3
    assert all(r.info.artifact_uri.startswith("mlflow-artifacts:") for r in runs)  # through the server
    children = [r for r in runs if "sec.candidate" in r.data.tags]
    assert all("test_macro_f1" in r.data.metrics and "train_loss" in r.data.metrics for r in children)
    models = catalog.query(settings.home, "SELECT mlflow_run_id FROM models")
    assert set(models["mlflow_run_id"]) == {r.info.run_id for r in children}
    with DagsterInstance.get() as instance:
        for octave in ("3", "12"):
            records = instance.fetch_materializations(
                AssetRecordsFilter(AssetKey("evaluation_report"), asset_partitions=[octave]), limit=1
            ).records
            meta = {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
            assert meta["mlflow_run"].startswith(f"{uri}/#/experiments/")
            assert meta["slurm_node"] in ("cpu1", "cpu2", "gpu1", "gpu2")
            version = client.get_model_version(meta["registered_model"], meta["registered_version"])
            assert version.tags["sec.gate"] == meta["gate"]


def test_a_slurm_campaign_task_runs_each_step_as_a_job_with_its_requests(cluster_env, tmp_path):
    """``where: slurm``: the task's runs are Dagster runs whose steps are Slurm jobs, with the
    task's request override (cpus) on every job, and its outputs in the task's own home."""
    write_demo_dataset(tmp_path / "landing", files_per_class=3)
    for name in ("click", "harmonic_hum", "noise burst"):  # two classes: fewer jobs, same paths
        shutil.rmtree(tmp_path / "landing" / name)
    path = tmp_path / "lossless.yaml"
    path.write_text(
        "tasks:\n"
        "  short:\n"
        "    settings: {segment_seconds: 2.0, bootstrap_resamples: 20}\n"
        "    formats: [wav, flac]\n"
        "    octaves: [1]\n"
        "    run: {where: slurm, executor: {time_min: 20}, requests: {cpus: 2}}\n"
    )
    done = subprocess.run(
        [str(BIN / "sec-assets"), "campaign", "run", str(path)],
        cwd=REPO,
        env=cluster_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 + 1 + 1 + 1 and all(r.is_success for r in runs)  # ranges: one run a stage
        assert {r.tags["sec/campaign"] for r in runs} == {"lossless"}
        jobs = [row for run in runs for row in settled(f"sec-{run.run_id[:8]}-")]
    names = sorted(j["JobName"].split("-", 2)[2] for j in jobs)
    assert names == sorted(
        [
            "raw_manifest-a0",
            "splits-a0",
            "augmented_segments-a0",
            "clap_embeddings-a0",
            "octave_spectrograms-a0",  # both classes at 1/1 in one job
            "trained_classifier-a0",
            "evaluation_report-a0",
            "zero_shot_baseline-a0",
            "octave_comparison-a0",
        ]
    )
    assert all(j["State"] == "COMPLETED" for j in jobs), jobs
    assert all("cpu=2" in j["AllocTRES"] for j in jobs)  # the task's override, on every step
    clap = next(j for j in jobs if "clap_embeddings" in j["JobName"])
    assert "gres/gpu=1" in clap["AllocTRES"]  # the asset's own request stays
    from sec_assets.core.store import catalog

    task_home = tmp_path / "home" / "campaigns" / "lossless" / "short"
    formats = catalog.query(task_home, "SELECT DISTINCT format FROM audio_files WHERE status = 'ok'")
    assert set(formats["format"]) == {"wav", "flac"}
    assert catalog.query(task_home, "SELECT count(*) FROM evaluations WHERE octave = 1").item() > 0
