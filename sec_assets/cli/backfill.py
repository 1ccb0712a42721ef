"""``sec-assets backfill [--octave N] [--class C] [--select A,B] [--dry-run] [--wait]``.

Prints the plan (which runs, against a per-partition loop), checks that a ``dagster-daemon``
serves the instance (else nothing is submitted), submits the asset backfill and, with
``--wait``, follows it to the end: exit status 0 when every run succeeded. The backfill belongs
to the instance, not to this process: Ctrl-C stops following it, ``--cancel ID`` (or *Cancel* on
the UI's page) cancels it — the daemon terminates its runs, and the executor scancels their
jobs. Dagster is imported only when the command runs, so the rest of ``sec-assets`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backfill",
        help="backfill every class (at some octaves, or everything) as a Dagster asset backfill",
        description="A Dagster asset backfill of the training graph over the registered classes: "
        "ceil(N/K) runs per per-class asset (K = classes_per_run), launched side by side by the "
        "Dagster daemon; shows on the UI's Backfills page (cancel, retry there).",
    )
    p.add_argument("--octave", type=int, action="append", help="only these octave partitions (repeat)")
    p.add_argument("--class", dest="classes", action="append", help="only these class partitions (repeat)")
    p.add_argument(
        "--select", help="comma-separated asset names (default: every asset but inference and monitoring)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the runs it would become; submit nothing")
    p.add_argument("--wait", action="store_true", help="follow it until every run has ended")
    p.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    p.add_argument("--cancel", metavar="ID", help="cancel backfill ID (its runs are terminated) and exit")
    p.add_argument(
        "-m",
        "--module",
        default="sec_assets.definitions",
        help="the code location's module, as dagster's -m (default sec_assets.definitions)",
    )
    p.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from sec_assets.backfill.plan import (
        DAEMON_STALE_S,
        BackfillError,
        cancel,
        daemon_age,
        follow,
        plan,
        submit,
        succeeded,
        targets,
    )
    from sec_assets.core.settings import load_settings
    from sec_assets.defs.inference import ASSETS as INFERENCE
    from sec_assets.defs.monitoring import ASSETS as MONITORING
    from sec_assets.instance import ensure_dagster_home

    settings = load_settings()
    ensure_dagster_home(settings)
    defs = importlib.import_module(args.module).defs
    with DagsterInstance.get() as instance:
        if args.cancel:
            print(cancel(instance, args.cancel).line())
            return 0
        chosen, classes, octaves = targets(
            defs,
            instance,
            assets=[a for a in (args.select or "").split(",") if a] or None,
            classes=args.classes,
            octaves=args.octave,
            exclude=[a.key.to_user_string() for a in (*INFERENCE, *MONITORING)],
        )
        the_plan = plan(defs, instance, chosen, len(classes), octaves)
        k = settings.classes_per_run
        print(f"classes_per_run K = {k or 'all (one run)'}")
        for line in the_plan.summary():
            print(line)
        if args.dry_run:
            return 0
        age = daemon_age(instance)
        if age is None or age > DAEMON_STALE_S:
            seen = "never" if age is None else f"{age:.0f} s ago"
            raise BackfillError(
                f"no dagster-daemon serves this instance ({instance.root_directory}; last heartbeat "
                f"{seen}): start `dagster-daemon run -m sec_assets.definitions` (or `dagster dev`) with "
                "the same DAGSTER_HOME, then run this again — nothing was submitted"
            )
        octave_part = f" at 1/{','.join(map(str, octaves))} octave" if args.octave else ""
        title = f"sec-assets backfill: {len(classes)} classes{octave_part}"
        backfill_id = submit(defs, instance, chosen, title)
        print(f"backfill {backfill_id} submitted: the UI's Backfills page, /runs/b/{backfill_id}")
        if not args.wait:
            return 0
        print("following it (Ctrl-C stops following; the backfill goes on)")
        final = follow(instance, backfill_id, print, timeout_s=args.timeout)
        return 0 if succeeded(final) else 1
