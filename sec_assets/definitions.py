"""Dagster entry point: ``dagster asset materialize -m sec_assets.definitions …``.

``SEC_EXECUTOR`` picks how steps run: unset → Dagster's default (in-process for ``materialize()``,
one process per step for the CLI and the UI); ``slurm`` / ``local`` / ``debug`` → the
:mod:`sec_assets.executor` (one submitit job per step), configured from ``SEC_SLURM_*`` /
``SEC_SUBMITIT_*`` environment variables and overridable per run under ``execution: config:``.
"""

from __future__ import annotations

import os

from dagster import Definitions

from sec_assets.assets import ALL_ASSETS
from sec_assets.executor import submitit_executor
from sec_assets.resources import SecResource
from sec_assets.sensors import class_features_job, landing_folder_sensor

EXECUTOR_MODES = ("slurm", "local", "debug")
_mode = os.environ.get("SEC_EXECUTOR", "").strip()
if _mode and _mode not in EXECUTOR_MODES:
    raise ValueError(f"SEC_EXECUTOR must be one of {EXECUTOR_MODES} or unset, got {_mode!r}")

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[class_features_job],
    sensors=[landing_folder_sensor],
    resources={"sec": SecResource.from_settings()},
    executor=submitit_executor if _mode else None,
)
