"""``sec-assets crossval [--octave N] [--fold K] [--valid carved|next] [--train-view V] [--name N]
[--no-materialize]``: every official fold of the dataset table is the test fold once; features
are computed once (``segment_views: both``) and shared by every fold. Prints the results table
(mean ± standard deviation across folds, per candidate and octave) and where everything went.
See :mod:`sec_assets.crossval`."""

from __future__ import annotations

import argparse
import typing

from sec_assets.core.models.crossval import TrainView, ValidRule


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "crossval",
        help="cross-validate every candidate over the dataset table's official folds",
        description="Every fold of the table is the test fold once, with models trained for that fold "
        "alone; features are computed once (needs segment_views: both) and shared by every fold. "
        "Results: the catalog's crossval view, <home>/reports/crossval/<name>/ and MLflow's "
        "<experiment>-crossval experiment; the model registry is never touched.",
    )
    p.add_argument("--octave", type=int, action="append", help="only these octaves (repeat; default: all)")
    p.add_argument("--fold", type=int, action="append", help="only these test folds (repeat; default: all)")
    p.add_argument(
        "--valid",
        choices=typing.get_args(ValidRule),
        default="carved",
        help="validation carved from the training folds by group (default), or the next fold",
    )
    p.add_argument(
        "--train-view",
        choices=typing.get_args(TrainView),
        default="augmented",
        help="what a training file contributes: its augmented view as production trains (default), "
        "its clean cuts, or both",
    )
    p.add_argument(
        "--name", help="the run's name (default from folds, valid and train view); a re-run replaces"
    )
    p.add_argument(
        "--no-materialize",
        action="store_true",
        help="materialize nothing: every class's features must be current (e.g. after a backfill)",
    )
    p.set_defaults(func=cmd_crossval)


def cmd_crossval(args: argparse.Namespace) -> int:
    from sec_assets.core.settings import load_settings
    from sec_assets.crossval import run_crossval

    result = run_crossval(
        load_settings(),
        octaves=args.octave,
        folds=args.fold,
        valid=args.valid,
        train_view=args.train_view,
        name=args.name,
        materialize=not args.no_materialize,
    )
    print()
    print(result.table.markdown)
    print(
        f"features {result.feature_seconds:.1f} s (once), training and scoring "
        f"{result.training_seconds:.1f} s ({result.per_fold['fold'].n_unique()} folds)"
    )
    print(f"reports: {result.report_dir}")
    print(f"catalog: sec-assets catalog \"SELECT * FROM crossval WHERE run = '{result.name}'\"")
    print(f"MLflow run: {result.run_id}")
    return 0
