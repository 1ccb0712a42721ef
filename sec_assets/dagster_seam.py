"""Every use of Dagster's private API (``dagster._…``) by sec_assets, in one module.

Dagster's public API (what ``import dagster`` exports) covers assets, jobs, runs, the instance
and the events, but not three things this project does:

1. **An executor that delegates each step to another system** (Slurm through submitit). Dagster's
   own step-delegating executors (dagster-docker, dagster-k8s, dagster-celery-k8s) are written
   against ``dagster._core.executor.step_delegating``; there is no public base class for one.
2. **Loading a job of a code location so that it can run in other processes** (the executor's
   steps, a run re-executed from failure, a campaign's runs): a ``ReconstructableRepository``, as
   ``dagster asset materialize -m MODULE`` builds it. The public ``reconstructable`` takes a job
   defined at module scope, not a job of a ``Definitions`` (asset jobs are built by it).
3. **Creating an asset backfill** outside the webserver's GraphQL ``launchPartitionBackfill``,
   and planning the runs it becomes by the assets' backfill policies, as the daemon will.

Everything else in sec_assets uses the public API only; no module but this one names a
``dagster._`` module (``sec_assets_tests/test_dagster_seam.py`` scans the source for it, and
exercises every name here against a real instance). On a Dagster upgrade this is the one module
to read: each name says what it is for and which public API it stands in for. Written against
dagster 1.13.27 (the newest 1.13 that dagster-postgres 0.29.27 and dagster-dg-cli allow).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dagster import DagsterInstance, RunRequest
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.automation_tick_evaluation_context import (
    build_run_requests_with_backfill_policies,
)
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.events import EngineEventData
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
)
from dagster._core.utils import make_new_backfill_id
from dagster._utils.interrupts import check_captured_interrupt

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "BACKFILL_ID_TAG",
    "AssetGraph",
    "AssetKeyPartitionKey",
    "BulkActionStatus",
    "CheckStepHealthResult",
    "EngineEventData",
    "PartitionBackfill",
    "ReconstructableRepository",
    "RetryMode",
    "StepDelegatingExecutor",
    "StepHandler",
    "StepHandlerContext",
    "asset_backfill",
    "backfill_run_requests",
    "interrupt_requested",
    "module_repository",
    "new_backfill_id",
    "retries_config_field",
    "retry_mode",
]

# -- 1. the step-delegating executor (sec_assets.executor) ---------------------------------------
#
# StepDelegatingExecutor runs Dagster's step loop (retries, concurrency, health checks) and hands
# each step to a StepHandler (launch / check health / terminate), which gets a StepHandlerContext
# (the run, the step's tags, the ``execute_step`` arguments) and answers health checks with a
# CheckStepHealthResult. EngineEventData carries the metadata of an engine event
# (``DagsterEvent.engine_event`` and ``DagsterInstance.report_engine_event`` are public and take
# it, but it is not exported). RetryMode is how the executor is told whether retries are on.
# Public API missing: a base class for a step-delegating executor and its step handler.


def retries_config_field() -> Any:
    """The ``retries`` field of an executor's config schema (``enabled: {}`` | ``disabled: {}``,
    default enabled), the same as Dagster's own executors take. A ``dagster.Field``."""
    return get_retries_config()


def retry_mode(retries_config: Mapping[str, Any]) -> RetryMode:
    """The :class:`RetryMode` that the ``retries`` value of an executor's config selects
    (``{"enabled": {}}`` → ``RetryMode.ENABLED``); a ValueError when it selects none."""
    mode = RetryMode.from_config(retries_config)
    if mode is None:
        raise ValueError(f"the executor's retries config selects no retry mode: {retries_config!r}")
    return mode


def interrupt_requested() -> bool:
    """Whether Dagster has captured a SIGINT/SIGTERM in this process while it executes a run (its
    handler takes both, so the executor cannot see them itself): an interrupted run's executor
    stops waiting for its jobs. Public API missing: none tells an executor it is interrupted."""
    return check_captured_interrupt()


# -- 2. a job of a code location that other processes can load -----------------------------------


def module_repository(module: str, attribute: str = "defs") -> ReconstructableRepository:
    """The code location ``module.attribute`` (a ``Definitions``) as ``dagster asset materialize
    -m module`` loads it: ``.get_reconstructable_job(name)`` gives a job that ``execute_job`` can
    run with an executor that executes steps in other processes (they load it again by module
    and name). Public API missing: ``dagster.reconstructable`` takes only a module-scope job."""
    return ReconstructableRepository.for_module(module, attribute, working_directory=None)


# -- 3. asset backfills (sec_assets.backfill) ----------------------------------------------------
#
# AssetKeyPartitionKey is one asset partition (an asset key and a partition key or None), the unit
# a backfill targets; AssetGraph (BaseAssetGraph) is the type of ``Definitions.resolve_asset_graph()``;
# PartitionBackfill is the backfill record in the instance, BulkActionStatus its status.
# BACKFILL_ID_TAG and the ASSET_PARTITION_RANGE_* tags are Dagster's tags on the runs it
# launches. Public API missing: creating and following an asset backfill (GraphQL only).

AssetGraph = BaseAssetGraph


def backfill_run_requests(
    targets: Iterable[AssetKeyPartitionKey], graph: BaseAssetGraph, instance: DagsterInstance
) -> Sequence[RunRequest]:
    """The runs a backfill of ``targets`` becomes: grouped by the assets' partitions and backfill
    policies, chunked by ``max_partitions_per_run`` — what the daemon launches. Call it inside
    ``dagster.partition_loading_context(dynamic_partitions_store=instance)``."""
    return build_run_requests_with_backfill_policies(targets, graph, instance)


def new_backfill_id() -> str:
    """A fresh backfill id of the form the UI's backfills get (eight lower-case letters)."""
    return make_new_backfill_id()


def asset_backfill(
    backfill_id: str,
    targets: Iterable[AssetKeyPartitionKey],
    graph: BaseAssetGraph,
    instance: DagsterInstance,
    title: str,
    tags: Mapping[str, str] | None = None,
    timestamp: float | None = None,
) -> PartitionBackfill:
    """The asset backfill of ``targets`` (status *requested*), built as the webserver's
    ``launchPartitionBackfill`` builds it; ``instance.add_backfill`` hands it to the daemon. Call it
    inside ``dagster.partition_loading_context(dynamic_partitions_store=instance)``."""
    subset = AssetGraphSubset.from_asset_partition_set(set(targets), graph)
    return PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time() if timestamp is None else timestamp,
        tags=dict(tags or {}),
        dynamic_partitions_store=instance,
        asset_graph_subset=subset,
        title=title,
        description=None,
        run_config=None,
    )
