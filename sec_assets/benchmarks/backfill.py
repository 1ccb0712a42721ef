"""Backfill benchmark: N class partitions through Dagster + the submitit executor on Slurm, vs
the same work as one plain sbatch job per class (what a user with scripts does today).

    SLURM_CONF=… python -m sec_assets.benchmarks.backfill [--partitions 100] [--workdir DIR]

Needs a running cluster (``scripts/local_slurm.sh up``). Each class holds one 3-s tone. Dagster:
``dagster asset materialize --select raw_manifest,augmented_segments,clap_embeddings
--partition-range first...last`` — the per-class assets have ``BackfillPolicy.single_run()``, so
this is one run whose three steps are three Slurm jobs, each looping over all classes. Plain:
``sbatch`` of ``python -m sec_assets.benchmarks.plain_class`` per class (one GPU each, like the
embedding step), timed from the first submission until the last job has left the queue.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from sec_assets.core.features.clap_store import ensure_random_init_model
from sec_assets.testing.signals import tone

BIN = Path(sys.executable).parent


def make_landing(root: Path, count: int) -> list[str]:
    names = [f"c{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        (root / name).mkdir(parents=True, exist_ok=True)
        sf.write(root / name / "a.wav", tone(200.0 + 10 * i, 3 * 16000, 16000, amplitude=0.3), 16000)
    return names


def wait_for_queue(prefix: str, poll: float = 0.5) -> None:
    while True:
        names = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True).stdout.split()
        if not any(n.startswith(prefix) for n in names):
            return
        time.sleep(poll)


def run_dagster(work: Path, names: list[str], models: Path) -> tuple[float, str]:
    dagster_home = work / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "SEC_EXECUTOR": "slurm",
        "SEC_CLASSES_PER_RUN": "0",  # one run for the range: --partition-range needs single_run
        "SEC_SUBMITIT_POLL_S": "1",
        "SEC_SUBMITIT_FOLDER": str(work / "submitit"),
        "SEC_SLURM_CPUS": "1",
        "SEC_SLURM_MEM_GB": "1",
        "SEC_HOME": str(work / "home"),
        "SEC_AUDIO_ROOT": str(work / "landing"),
        "SEC_MODELS": str(models),
        "SEC_ALLOW_RANDOM_INIT": "1",
        "DAGSTER_HOME": str(dagster_home),
        "TOKENIZERS_PARALLELISM": "false",
    }
    subprocess.run([str(BIN / "sec-assets"), "scan"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "sec_assets.definitions",
            "--select",
            "raw_manifest,augmented_segments,clap_embeddings",
            "--partition-range",
            f"{names[0]}...{names[-1]}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if "RUN_SUCCESS" not in done.stdout + done.stderr:
        raise RuntimeError(f"dagster backfill failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return elapsed, "1 run, 3 Slurm jobs"


def run_plain(work: Path, names: list[str], models: Path) -> tuple[float, str]:
    out = work / "plain_out"
    logs = work / "plain_logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name in names:
        cmd = (
            f"{sys.executable} -m sec_assets.benchmarks.plain_class {work / 'landing' / name} {out} {models}"
        )
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "-p",
                "gpu",
                "--gres=gpu:1",
                "-c",
                "1",
                "--mem=1G",
                "-J",
                f"plain-{name}",
                "-o",
                str(logs / f"{name}.out"),
                "--wrap",
                cmd,
            ],
            check=True,
            capture_output=True,
        )
    wait_for_queue("plain-")
    elapsed = time.perf_counter() - started
    missing = [n for n in names if not (out / f"{n}.npz").is_file()]
    if missing:
        raise RuntimeError(f"plain jobs produced no output for {missing[:5]} (logs in {logs})")
    return elapsed, f"{len(names)} sbatch jobs"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partitions", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if "SLURM_CONF" not in os.environ:
        raise SystemExit("set SLURM_CONF (scripts/local_slurm.sh up; eval $(scripts/local_slurm.sh env))")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sec-backfill-"))
    names = make_landing(work / "landing", args.partitions)
    models = work / "models"
    ensure_random_init_model(models)
    t_dagster, what_dagster = run_dagster(work, names, models)
    t_plain, what_plain = run_plain(work, names, models)
    cpus = len(os.sched_getaffinity(0))
    print(f"# backfill benchmark — {args.partitions} class partitions, 3-s tone each; {cpus} real cores")
    print("| way | what ran | wall s | s per partition |")
    print("|---|---|---|---|")
    way = "Dagster + submitit (single-run backfill)"
    print(f"| {way} | {what_dagster} | {t_dagster:.1f} | {t_dagster / len(names):.2f} |")
    print(f"| plain sbatch per class | {what_plain} | {t_plain:.1f} | {t_plain / len(names):.2f} |")
    print(f"ratio Dagster / plain: {t_dagster / t_plain:.2f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
