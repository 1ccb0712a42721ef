"""A file lands → a retrained, gated model, with the Dagster daemon running.

    python -m sec_assets.benchmarks.landing_to_model [--workdir DIR] [--octaves 3]

1. Writes the demo data (5 classes × 4 files) into a landing folder and materializes the whole
   graph at ``--octaves`` (the models in use; ``sec-assets demo``'s path).
2. Starts ``dagster-daemon run`` on ``sec_assets.definitions`` (the local profile: queued runs,
   one process per run and per step) and switches ``landing_folder_sensor`` and
   ``retrain_sensor`` on, then waits until they are quiet: the landing sensor's first pass
   finds every class unchanged since its manifest (no run) and the retrain sensor reports
   nothing changed.
3. Drops one new recording into one class (t0) and prints, in seconds after t0, each hop until
   that octave's ``evaluation_report`` — the champion gate — is materialized by the burst, and
   the burst's summary stage after it.

The sensors tick every 60 s (Dagster's minimum interval as set on them); the landing sensor
waits one more tick for the class folder to settle, the retrain sensor ``retrain_settle_seconds``
(default 120) after the last change. Those waits are most of the figure, by design.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def _wait(what: str, check: Callable[[], Any], timeout: float, poll: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, removed after")
    parser.add_argument("--octaves", default="3")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sec-landing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {
        "SEC_HOME": str(work / "home"),
        "SEC_AUDIO_ROOT": str(work / "landing"),
        "SEC_MODELS": str(work / "models"),
        "SEC_ALLOW_RANDOM_INIT": "1",
        "SEC_OCTAVES": args.octaves,
        "DAGSTER_HOME": str(work / "dagster"),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    os.environ.update(env)  # before sec_assets.partitions is imported: the octaves are fixed there
    (work / "dagster").mkdir(exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", work / "dagster" / "dagster.yaml")

    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

    from sec_assets.core.features.clap_store import ensure_random_init_model
    from sec_assets.core.settings import load_settings
    from sec_assets.defs.sensors.retrain import BURST_TAG, STAGE_TAG
    from sec_assets.demo.data import write_demo_dataset
    from sec_assets.local_run import run_everything

    settings = load_settings()
    write_demo_dataset(settings.landing, files_per_class=4, seed=settings.seed)
    ensure_random_init_model(settings.model_store)
    started = time.perf_counter()
    run_everything(settings, log=False)
    print(f"baseline: the whole graph at octaves {args.octaves} in {time.perf_counter() - started:.0f} s")

    log = open(work / "daemon.log", "w")  # noqa: SIM115 -- open for the daemon's lifetime
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "sec_assets.definitions"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for name in ("landing_folder_sensor", "retrain_sensor"):
            subprocess.run(
                [str(BIN / "dagster"), "sensor", "start", "-m", "sec_assets.definitions", name],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
        unfinished = [
            DagsterRunStatus.QUEUED,
            DagsterRunStatus.NOT_STARTED,
            DagsterRunStatus.STARTING,
            DagsterRunStatus.STARTED,
        ]
        with DagsterInstance.get() as instance:

            def first_pass_done() -> bool:  # every class sent (a run, or unchanged), none running
                for state in instance.all_instigator_state():
                    data = state.instigator_data
                    if state.name == "landing_folder_sensor" and data is not None:
                        cursor = json.loads(getattr(data, "cursor", None) or "{}")
                        busy = instance.get_runs(RunsFilter(statuses=unfinished))
                        return len(cursor.get("sent", {})) >= 5 and not busy
                return False

            _wait("the landing sensor's first pass", first_pass_done, 900)
            last_end = max([r.end_time or 0 for r in instance.get_run_records()], default=time.time())

            def retrain_quiet() -> bool:  # a tick after the last run that left nothing pending
                for state in instance.all_instigator_state():
                    data = state.instigator_data
                    if state.name == "retrain_sensor" and data is not None:
                        cursor = json.loads(getattr(data, "cursor", None) or "{}")
                        ticked = (getattr(data, "last_tick_timestamp", None) or 0) > last_end
                        return ticked and not cursor.get("pending") and cursor.get("burst") is None
                return False

            _wait("a quiet retrain sensor", retrain_quiet, 300)
            before = (
                instance.fetch_materializations(AssetKey("evaluation_report"), limit=1).records[0].storage_id
            )
            source = sorted((settings.landing / "tone").rglob("*.wav"))[0]
            t0_wall = time.time()
            t0 = time.perf_counter()
            target = settings.landing / "tone" / "landed" / "new_recording.wav"
            target.parent.mkdir()
            shutil.copyfile(source, target.with_suffix(".part"))
            os.replace(target.with_suffix(".part"), target)  # as an upload tool finishes a file

            def since(timestamp: float | None) -> str:
                return "-" if timestamp is None else f"{timestamp - t0_wall:6.0f}"

            def gated() -> Any:
                records = instance.fetch_materializations(
                    AssetRecordsFilter(AssetKey("evaluation_report"), after_storage_id=before), limit=1
                ).records
                return records[0] if records else None

            model = _wait("the retrained model", gated, 1800)
            elapsed = time.perf_counter() - t0
            _wait(
                "the burst's summary stage",
                lambda: any(
                    r.is_finished for r in instance.get_runs(RunsFilter(tags={STAGE_TAG: "summary"}))
                ),
                900,
            )
            features = instance.get_run_records(RunsFilter(job_name="class_features"), limit=1)[0]
            stages = {}
            for stage in ("spectrograms", "train", "summary"):
                records = instance.get_run_records(RunsFilter(tags={STAGE_TAG: stage}))
                stages[stage] = records
            meta = {k: v.value for k, v in (model.asset_materialization.metadata or {}).items()}
            print(f"landed: {target.relative_to(settings.landing)} at t0")
            rows = [
                ("landing sensor requests class_features", features.create_timestamp.timestamp()),
                ("class_features run ends", features.end_time),
            ]
            for stage, records in stages.items():
                if records:
                    first = min(r.create_timestamp.timestamp() for r in records)
                    last = max(r.end_time or 0 for r in records)
                    rows += [
                        (f"retrain burst: {stage} stage requested", first),
                        (f"  {stage} stage ends", last),
                    ]
            rows.append(("evaluation_report (gate) materialized", model.timestamp))
            for label, ts in sorted(rows, key=lambda r: r[1] or 0):
                print(f"  {since(ts)} s  {label}")
            print(
                f"file landed → retrained, gated model: {elapsed:.0f} s (gate: {meta.get('gate')}, "
                f"registry {meta.get('registered_model')} v{meta.get('registered_version')}); "
                f"retrain_settle_seconds = {settings.retrain_settle_seconds:.0f}, burst "
                f"{stages['train'][0].dagster_run.tags[BURST_TAG] if stages['train'] else '-'}"
            )
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
