"""Fan-out benchmark: one backfill of N classes at K classes per run, against K = N (one run).

    SLURM_CONF=… python -m sec_assets.benchmarks.fanout [--classes 40] [--per-class-s 3] [--k 10 40]

Needs a running cluster (``scripts/local_slurm.sh up``; 4 nodes). For each K: a fresh Dagster
instance (SQLite: every "node" shares this machine's disk), ``dagster-daemon`` with
``SEC_CLASSES_PER_RUN=K``, and ``sec-assets backfill -m sec_assets.testing.fanout_defs --wait``,
timed from the command's start to its exit. The work is **simulated** (each class sleeps
``--per-class-s``; each job asks for a whole node): two real cores cannot show parallel compute,
so what this measures is the spread over nodes and the cost beyond the work — daemon ticks (the
backfill daemon runs every 30 s), run start, job start-up. sacct gives each job's node and times.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from dagster import DagsterInstance, RunsFilter

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
MODULE = "sec_assets.testing.fanout_defs"


def sacct_jobs(run_ids: list[str]) -> list[dict[str, str]]:
    fields = ["JobName", "NodeList", "Start", "End", "State"]
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", "now-2hours", "-o", ",".join(fields)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines() if line]
    prefixes = tuple(f"sec-{r[:8]}-" for r in run_ids)
    return [r for r in rows if r["JobName"].startswith(prefixes)]


def one(work: Path, classes: int, per_class_s: float, k: int) -> dict[str, float | int]:
    home = work / f"k{k}"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 8\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home / "dagster"),
        "SEC_HOME": str(home / "sec"),
        "SEC_EXECUTOR": "slurm",
        "SEC_SUBMITIT_POLL_S": "1",
        "SEC_SUBMITIT_FOLDER": str(home / "submitit"),
        "SEC_SLURM_MEM_GB": "1",
        "SEC_CLASSES_PER_RUN": str(k),
        "SEC_SIMULATED_CLASS_S": str(per_class_s),
    }
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    with DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("audio_class", [f"c{i:03d}" for i in range(classes)])
    log = open(home / "daemon.log", "w")  # noqa: SIM115 -- the daemon's log for its lifetime
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", MODULE], cwd=REPO, env=env, stdout=log, stderr=log
    )
    try:
        with DagsterInstance.get() as instance:
            while "BACKFILL" not in instance.get_daemon_heartbeats():
                time.sleep(1)
        started = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "sec-assets"), "backfill", "-m", MODULE, "--wait"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"K = {k}: the backfill failed:\n{out[-3000:]}")
    match = re.search(r"backfill (\w+) submitted", out)
    assert match is not None
    with DagsterInstance.get() as instance:
        runs = [r.run_id for r in instance.get_runs(RunsFilter(tags={"dagster/backfill": match.group(1)}))]
    jobs = sacct_jobs(runs)
    starts = [datetime.fromisoformat(j["Start"]) for j in jobs]
    ends = [datetime.fromisoformat(j["End"]) for j in jobs]
    return {
        "k": k,
        "runs": len(runs),
        "jobs": len(jobs),
        "nodes": len({j["NodeList"] for j in jobs}),
        "wall_s": wall,
        "jobs_span_s": (max(ends) - min(starts)).total_seconds(),
        "work_s": per_class_s * classes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sec_assets.benchmarks.fanout")
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--per-class-s", type=float, default=3.0)
    parser.add_argument("--k", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sec-fanout-"))
    rows = [one(work, args.classes, args.per_class_s, k) for k in args.k]
    print(
        f"{args.classes} classes × {args.per_class_s:g} s simulated work ({rows[0]['work_s']:.0f} s in all)"
    )
    print("| K | runs | Slurm jobs | nodes | jobs: first start → last end | command wall | wall / K=N wall |")
    print("|---|---|---|---|---|---|---|")
    base = next((r for r in rows if r["k"] >= args.classes), rows[-1])
    for r in rows:
        print(
            f"| {r['k']} | {r['runs']} | {r['jobs']} | {r['nodes']} | {r['jobs_span_s']:.0f} s | "
            f"{r['wall_s']:.0f} s | {r['wall_s'] / base['wall_s']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
