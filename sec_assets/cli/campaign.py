"""``sec-assets campaign validate|run|status|query FILE``.

``run`` starts one worker process per task (:mod:`sec_assets.campaigns.worker`), one task after another, with
``SEC_EXECUTOR`` set for the task's ``where`` (``slurm``: the submitit executor on Slurm, or
submitit's local processes when ``SEC_EXECUTOR`` already is ``local``/``debug``, for a dry run
without a cluster; ``local``: in the worker). Tasks are independent: a failed one does not stop
the others; the exit status says whether all are done.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from sec_assets.campaigns.launch import load, worker_env
from sec_assets.cli.output import add_format_arguments, print_frame
from sec_assets.core.campaign.catalog import build_campaign_catalog, campaign_catalog_path, query_campaign
from sec_assets.core.campaign.spec import Campaign
from sec_assets.instance import ensure_dagster_home


def cmd_validate(args: argparse.Namespace) -> int:
    campaign, _base = load(args.file)
    print(
        f"{args.file}: campaign {campaign.name!r}, {len(campaign.tasks)} task(s), "
        f"outputs under {campaign.home}"
    )
    for t in campaign.tasks:
        overlay = ", ".join(f"{k}={v}" for k, v in sorted(t.overlay.items())) or "no overlay"
        extra = (
            f" {dict(t.run.requests or {})} {dict(t.run.executor or {})}" if t.run.where == "slurm" else ""
        )
        print(f"  {t.name}: {t.run.where}{extra}; octaves {list(t.octaves)}; {overlay}")
        print(f"    landing {t.settings.landing} → home {t.settings.home}")
    return 0


def _status(campaign: Campaign) -> str:
    from dagster import DagsterInstance

    from sec_assets.campaigns.status import format_status, task_status

    with DagsterInstance.get() as instance:
        statuses = [task_status(instance, campaign, t) for t in campaign.tasks]
    return format_status(campaign, statuses)


def cmd_run(args: argparse.Namespace) -> int:
    campaign, base = load(args.file)
    ensure_dagster_home(base)
    tasks = [campaign.task(n) for n in args.task] if args.task else list(campaign.tasks)
    signal.signal(signal.SIGTERM, _interrupt)  # a stop request reaches the worker, never lost
    failed = []
    for task in tasks:
        print(f"campaign {campaign.name}: task {task.name} ({task.run.where})", flush=True)
        cmd = [sys.executable, "-m", "sec_assets.campaigns.worker", str(args.file), task.name]
        worker = subprocess.Popen([*cmd, *(["--force"] if args.force else [])], env=worker_env(task))
        try:
            rc = worker.wait()
        except KeyboardInterrupt:  # Ctrl-C (the worker got it too) or SIGTERM: it ends its run
            worker.send_signal(signal.SIGTERM)
            worker.wait()
            print(f"campaign {campaign.name}: stopped during task {task.name}", file=sys.stderr)
            return 130
        if rc == 130:
            print(f"campaign {campaign.name}: task {task.name} was stopped", file=sys.stderr)
            return 130
        if rc:
            failed.append(task.name)
    build_campaign_catalog(campaign)
    print(_status(campaign))
    sql = "SELECT task, octave, macro_f1 FROM evaluations WHERE split = 'test' AND selected"
    print(f'compare the tasks: sec-assets campaign query {args.file} "{sql}"')
    if failed:
        print(f"campaign {campaign.name}: task(s) {', '.join(failed)} did not finish", file=sys.stderr)
    return 1 if failed else 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_status(args: argparse.Namespace) -> int:
    campaign, base = load(args.file)
    ensure_dagster_home(base)
    print(_status(campaign))
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    campaign, _ = load(args.file)
    try:
        frame = query_campaign(campaign, args.sql)
    except duckdb.Error as exc:
        print(f"campaign query failed ({campaign_catalog_path(campaign)}): {exc}", file=sys.stderr)
        return 2
    print_frame(frame, args.format, args.max_rows)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    camp = sub.add_parser("campaign", help="a study of named tasks (configs/campaigns/*.yaml)")
    verbs = camp.add_subparsers(dest="campaign_command", required=True)
    for name, func, text in (
        ("validate", cmd_validate, "check a campaign file; every problem is named with its line"),
        ("run", cmd_run, "run every task's steps not done yet, as Dagster runs (visible in the UI)"),
        ("status", cmd_status, "per task: steps done, running, lost, failed and to do; test macro-F1"),
        ("query", cmd_query, "read-only SQL over every task's catalog, with a task column"),
    ):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument("file", type=Path)
        verb.set_defaults(func=func)
        if name == "run":
            verb.add_argument("--task", action="append", help="run only this task (repeatable)")
            verb.add_argument("--force", action="store_true", help="re-run steps already done")
        if name == "query":
            verb.add_argument("sql")
            add_format_arguments(verb)
