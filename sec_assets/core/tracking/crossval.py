"""A cross-validation in MLflow, isolated from production: its own experiment, one parent run
(the protocol as parameters, the summary's means and intervals as metrics, the results table
and plot as artifacts) and a child run per (octave, test fold) with every candidate's figures.
Nothing is registered: the model registry, and the ``champion`` alias that only the paired
gate moves, are never touched."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.tracking.runs import _flat, _metric, _params
from sec_assets.core.tracking.store import experiment, tracking

KIND_TAG = "sec_assets.kind"
NAME_TAG = "sec_assets.crossval"
FOLD_FIGURES = (
    "valid_macro_f1",
    "test_accuracy",
    "test_balanced_accuracy",
    "test_macro_f1",
    "test_macro_map",
    "train_seconds",
)


def metric_name(*parts: object) -> str:
    """``parts`` joined by dots, with what MLflow refuses in a name (``+`` of a feature set's
    name, …) replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", ".".join(str(p) for p in parts))


def experiment_name(production: str) -> str:
    """The experiment cross-validations log to, beside (never inside) the production one."""
    return f"{production}-crossval"


def log_crossval(
    uri: str,
    production_experiment: str,
    name: str,
    params: Mapping[str, Any],
    per_fold: pl.DataFrame,
    summary: pl.DataFrame,
    artifacts: Sequence[Path],
) -> str:
    """Log one cross-validation; the parent run's id."""
    with tracking(uri) as client:
        exp = experiment(client, uri, experiment_name(production_experiment))
        tags = {KIND_TAG: "crossval", NAME_TAG: name}
        parent = client.create_run(exp, run_name=f"crossval {name}", tags=tags).info.run_id
        means = [
            _metric(metric_name(f"1_{r['octave']}", r["candidate"], column), r[column], 0)
            for r in summary.iter_rows(named=True)
            for column in summary.columns
            if column.endswith(("_mean", "_ci_low", "_ci_high")) and r[column] is not None
        ]
        client.log_batch(parent, metrics=means, params=_params(_flat("", dict(params))))
        for (octave, fold), part in per_fold.group_by("octave", "fold", maintain_order=True):
            child = client.create_run(
                exp,
                run_name=f"1/{octave} octave, test fold {fold}",
                tags={**tags, "mlflow.parentRunId": parent},
            ).info.run_id
            chosen = part.filter(pl.col("selected"))["candidate"].to_list()
            metrics = [
                _metric(metric_name(r["candidate"], figure), r[figure], 0)
                for r in part.iter_rows(named=True)
                for figure in FOLD_FIGURES
                if r[figure] is not None
            ]
            values = {"octave": str(octave), "test_fold": str(fold), "selected": ",".join(chosen)}
            client.log_batch(child, metrics=metrics, params=_params(values))
            client.set_terminated(child)
        for path in artifacts:
            client.log_artifact(parent, str(path), artifact_path="crossval")
        client.set_terminated(parent)
    return parent
