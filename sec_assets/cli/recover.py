"""``sec-assets recover [RUN_ID ...] [--dry-run] [--no-rerun]``: finish the runs whose
orchestrator died (``kill -9``, a rebooted login node) — see :mod:`sec_assets.executor.recovery`.

Without run ids: every started run whose orchestrator ran on this host and is gone. A run
orchestrated on another host is recovered only when named (this host cannot see its process).
Dagster is imported only when the command runs.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recover",
        help="scancel the jobs of runs whose orchestrator died, fail them, re-execute from failure",
    )
    p.add_argument("run_ids", nargs="*", help="runs to recover (default: the orphaned runs of this host)")
    p.add_argument("--dry-run", action="store_true", help="list what would be recovered; change nothing")
    p.add_argument("--no-rerun", action="store_true", help="cancel and fail, do not re-execute")
    p.add_argument("-m", "--module", default="sec_assets.definitions", help="the code location's module")
    p.set_defaults(func=cmd_recover)


def cmd_recover(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance, DagsterRunStatus

    from sec_assets.core.settings import load_settings
    from sec_assets.executor.recovery import orchestrator, orphaned_runs, recover
    from sec_assets.instance import ensure_dagster_home

    ensure_dagster_home(load_settings())
    with DagsterInstance.get() as instance:
        if args.run_ids:
            runs = []
            for run_id in args.run_ids:
                run = instance.get_run_by_id(run_id)
                if run is None:
                    raise ValueError(f"no run {run_id!r} in this instance (DAGSTER_HOME)")
                owner = orchestrator(instance, run_id)
                if owner is not None and owner.alive():
                    raise ValueError(
                        f"run {run_id}'s orchestrator (pid {owner.pid}) is still running: stop it first"
                    )
                if run.status in (DagsterRunStatus.SUCCESS,):
                    raise ValueError(f"run {run_id} succeeded: nothing to recover")
                runs.append(run)
        else:
            runs = orphaned_runs(instance)
        if not runs:
            print("no orphaned runs: every started run's orchestrator is alive")
            return 0
        for run in runs:
            print(f"run {run.run_id} ({run.job_name}, {run.status.value}): orchestrator gone")
        if args.dry_run:
            return 0
        results = [recover(instance, run, args.module, print, rerun=not args.no_rerun) for run in runs]
        return 0 if args.no_rerun or all(r.success for r in results) else 1
