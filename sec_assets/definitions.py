"""Dagster entry point: ``dagster asset materialize -m sec_assets.definitions …``.

Only composes: the stages' definitions (:mod:`sec_assets.defs`), the ``sec`` resource and the
executor. ``SEC_EXECUTOR`` (read by :func:`sec_assets.executor.executor_mode`, the one place)
picks how steps run: unset → Dagster's default (in-process for ``materialize()``, one process per
step for the CLI and the UI); ``slurm`` / ``local`` / ``debug`` → the submitit executor (one job
per step), configured from ``SEC_SLURM_*`` / ``SEC_SUBMITIT_*`` and per run under
``execution: config:``.
"""

from __future__ import annotations

from dagster import Definitions

from sec_assets.defs import STAGES
from sec_assets.executor import executor_mode, submitit_executor
from sec_assets.resources import SecResource

defs = Definitions.merge(
    *(stage.defs for stage in STAGES),
    Definitions(
        resources={"sec": SecResource.from_settings()},
        executor=submitit_executor if executor_mode() else None,
    ),
)
