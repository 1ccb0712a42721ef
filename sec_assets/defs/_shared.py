"""What every stage's assets share: policies, partition mappings, the lineage + result "finish"
call, the per-partition loop of a range, Markdown tables and Slurm metadata.

Each asset writes its own partition of the Parquet store (atomically, replacing), records one
lineage row for it, and returns metadata for the UI. Nothing flows through an IO manager, so the
same code runs in-process, in subprocesses or as Slurm jobs on other nodes.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetExecutionContext,
    BetaWarning,
    DagsterExecutionInterruptedError,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    RetryPolicy,
)

import sec_assets
from sec_assets.core.audio.stored import SegmentMismatch
from sec_assets.core.hashing import files_sha256
from sec_assets.core.progress import Progress
from sec_assets.core.settings import Settings
from sec_assets.core.store import catalog, storage
from sec_assets.core.tracking.store import run_link, ui_base
from sec_assets.executor import RESOURCE_TAG
from sec_assets.executor.protocol import SlurmTimeLimitError, SlurmTimeLimitReached
from sec_assets.partitions import AUDIO_CLASS, OCTAVE
from sec_assets.resources import SecResource

with warnings.catch_warnings():  # the mapping is "beta" in Dagster 1.13; tested here
    warnings.simplefilter("ignore", BetaWarning)
    BY_CLASS = MultiToSingleDimensionPartitionMapping(partition_dimension_name=AUDIO_CLASS)
    BY_OCTAVE = MultiToSingleDimensionPartitionMapping(partition_dimension_name=OCTAVE)
ALL = AllPartitionMapping()
P = ParamSpec("P")
R = TypeVar("R")

# A step whose job ended without a result (scancel, node failure, preemption) is run again once;
# every write is atomic and clap_embeddings resumes from its committed shards.
STEP_RETRY = RetryPolicy(max_retries=1, delay=2)
SEGMENT_SHARD = 64  # segments per Parquet file: bounds memory by the shard, not the class
# the columns of a step's failure table in the UI (the catalog's ``failures`` view has them all)
FAILURE_COLUMNS = {
    "segment_key": pl.String,
    "source_sha256": pl.String,
    "path": pl.String,
    "reason": pl.String,
}


def asset_boundary(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap an asset function: a stop request (:class:`SlurmTimeLimitError`, a ``BaseException`` so
    no per-file handler below can swallow it) becomes an ordinary step failure here, where nothing
    partial is left to commit, so the asset's ``RetryPolicy`` applies. An interrupt of the run
    (Ctrl-C, SIGTERM, *Terminate* in the UI: Dagster raises it in the step) is a failure that is
    never retried — without this, the retry policy would run the step again after the user
    asked it to stop (found by ``sec-assets campaign run`` under SIGTERM). A recipe-only segment
    that cannot be rebuilt as recorded (:class:`SegmentMismatch`) fails once, too."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SlurmTimeLimitError as stop:
            raise SlurmTimeLimitReached(str(stop)) from stop
        except DagsterExecutionInterruptedError as stop:
            raise Failure(
                "stopped: the run was interrupted (Ctrl-C, SIGTERM or Terminate); nothing partial "
                "was committed, and the step is not retried",
                allow_retries=False,
            ) from stop
        except SegmentMismatch as bad:  # the stored recipe and its source disagree: retrying cannot help
            raise Failure(str(bad), allow_retries=False) from bad

    return wrapper


def requests(**request: int | float | str) -> dict[str, str]:
    """Op tags asking the executor for what a step really uses (``gpus``, ``cpus``, ``mem_gb``, …)."""
    return {RESOURCE_TAG: json.dumps(request)}


def asset_name(context: AssetExecutionContext) -> str:
    return context.asset_key.to_user_string()


def code_version(context: AssetExecutionContext) -> str:
    """The lineage code version: package version / asset / the asset's declared ``code_version``."""
    declared = context.assets_def.code_versions_by_key[context.asset_key]
    return f"sec_assets-{sec_assets.__version__}/{asset_name(context)}-v{declared}"


def class_name(sec: SecResource, key: str) -> str:
    """The class (folder or table label) of a partition key; a removed or renamed one fails with
    what to do."""
    dataset = sec.settings.dataset()
    classes = dataset.classes()
    if key not in classes and dataset.table is not None:
        raise FileNotFoundError(
            f"partition {key!r} has no label in the dataset table {dataset.table}: the label was "
            "removed or renamed; run `sec-assets scan` to register the table's current labels"
        )
    if key not in classes:
        raise FileNotFoundError(
            f"partition {key!r} has no class folder under {sec.audio_root_path}: the folder was removed"
            " or renamed; run `sec-assets scan` to register the current folders"
        )
    return classes[key]


def registered_classes(context: AssetExecutionContext) -> list[str]:
    keys = sorted(context.instance.get_dynamic_partitions(AUDIO_CLASS))
    if not keys:
        raise ValueError("no audio_class partitions are registered: run `sec-assets scan` first")
    return keys


def upstream(home: Path, pairs: Sequence[tuple[str, str]], missing_ok: bool = False) -> list[dict[str, Any]]:
    """Lineage references of the inputs; a missing one fails with what to materialize (or, with
    ``missing_ok``, is left out: an input that may never have been materialized)."""
    refs = []
    for name, key in pairs:
        row = catalog.read_lineage(home, name, key)
        if row is None:
            if missing_ok:
                continue
            raise FileNotFoundError(f"{name} partition {key!r} is not materialized yet")
        refs.append(
            {
                "asset": name,
                "partition_key": key,
                "run_id": row["run_id"],
                "output_fingerprint": row["output_fingerprint"],
            }
        )
    return refs


def finish(
    context: AssetExecutionContext,
    *,
    sec: SecResource,
    partition_key: str,
    written: tuple[Path, str, int],
    params: Mapping[str, Any],
    inputs: list[dict[str, Any]],
    metadata: dict[str, Any],
) -> MaterializeResult:
    """Record the lineage row of one written partition and return its UI metadata."""
    path, fingerprint, rows = written
    version = code_version(context)
    catalog.record_lineage(
        sec.home_path,
        asset=asset_name(context),
        partition_key=partition_key,
        run_id=context.run_id,
        code_version=version,
        params=params,
        inputs=inputs,
        output_fingerprint=fingerprint,
        rows=rows,
    )
    return MaterializeResult(
        metadata={
            "rows": rows,
            "path": MetadataValue.path(str(path)),
            "output_fingerprint": fingerprint,
            "code_version": version,
            **slurm_metadata(),
            **metadata,
        }
    )


@dataclass(frozen=True)
class Written:
    """What a partition is computed from: compared with its lineage row to skip unchanged work."""

    partition_key: str
    table: str
    dims: Mapping[str, str]
    params: Mapping[str, Any]
    inputs: list[dict[str, Any]]


def current_lineage(context: AssetExecutionContext, sec: SecResource, what: Written) -> dict[str, Any] | None:
    """The partition's lineage row if it was written from these inputs (the same upstream runs
    and output fingerprints), parameters and code version and its files are still there."""
    home = sec.home_path
    previous = catalog.read_lineage(home, asset_name(context), what.partition_key)
    files = storage.partition_files(home, what.table, what.dims)
    if previous is None or not files:
        return None
    current = (code_version(context), catalog.params_json(what.params), catalog.inputs_json(what.inputs))
    if (previous["code_version"], previous["params"], previous["inputs"]) != current:
        return None
    if files_sha256(files) != previous["output_fingerprint"]:  # the files are not what was written
        context.log.warning(
            f"{what.partition_key}: the stored {what.table} files differ from what its run wrote "
            "(changed or damaged since): recomputing"
        )
        return None
    return previous


def unchanged(context: AssetExecutionContext, sec: SecResource, what: Written) -> MaterializeResult | None:
    """The partition as it stands when :func:`current_lineage` finds it current; else None.
    Nothing is recomputed or rewritten, and the lineage row keeps naming the run that computed
    the data: a class re-run whose files did not change costs its manifest check."""
    previous = current_lineage(context, sec, what)
    if previous is None:
        return None
    context.log.info(
        f"{what.partition_key}: unchanged since run {previous['run_id']} (same inputs, parameters and "
        "code): kept, nothing recomputed"
    )
    return MaterializeResult(
        metadata={
            "unchanged": True,
            "computed_by_run": previous["run_id"],
            "rows": previous["rows"],
            "path": MetadataValue.path(str(storage.partition_dir(sec.home_path, what.table, what.dims))),
            "output_fingerprint": previous["output_fingerprint"],
            "code_version": previous["code_version"],
            **slurm_metadata(),
        }
    )


def slurm_metadata() -> dict[str, Any]:
    """Where a step ran when it is a Slurm job: node, CPUs and GPUs it was given, its peak RSS
    (the executor adds sacct's own figures as an engine event once the job has ended)."""
    if "SLURM_JOB_ID" not in os.environ:
        return {}
    return {
        "slurm_job_id": os.environ["SLURM_JOB_ID"],
        "slurm_node": os.environ.get("SLURMD_NODENAME", "?"),
        "slurm_cpus": int(os.environ.get("SLURM_CPUS_PER_TASK", "1")),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "none"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def each_partition(
    context: AssetExecutionContext, one: Callable[[str], MaterializeResult]
) -> MaterializeResult:
    """Run ``one`` for every partition of this run (one, or a range under ``CLASS_BACKFILL``:
    one Slurm job, one queue wait and one interpreter start per step for its K classes).

    Each partition is written and catalogued on its own; a range reports a per-partition table.
    """
    keys = list(context.partition_keys)
    if len(keys) == 1:
        return one(keys[0])
    started, rows = time.perf_counter(), []
    line = Progress(f"{asset_name(context)}:", len(keys), "partitions", context.log.info)
    for i, key in enumerate(keys):
        meta = one(key).metadata or {}
        warning = getattr(meta.get("warning"), "value", meta.get("warning"))  # raw or MetadataValue
        rows.append(
            {
                "partition": key,
                "rows": meta.get("rows"),
                "fingerprint": meta.get("output_fingerprint"),
                "warning": None if warning in (None, "none") else str(warning),
            }
        )
        line.update(i + 1, f"last: {key}")
    schema = {"partition": pl.String, "rows": pl.Int64, "fingerprint": pl.String, "warning": pl.String}
    table = pl.DataFrame(rows, schema=schema)
    warned = table.filter(pl.col("warning").is_not_null())
    if warned.is_empty():
        table = table.drop("warning")
    return MaterializeResult(
        metadata={
            "partitions": len(keys),
            "warnings": md_table(warned.select("partition", "warning")),
            "rows": int(table["rows"].sum()),
            "seconds": round(time.perf_counter() - started, 1),
            "per_partition": md_table(table, limit=200),
            **slurm_metadata(),
        }
    )


def md_table(frame: pl.DataFrame, limit: int = 20) -> MetadataValue:
    """A polars frame as a Markdown table for the UI (the first ``limit`` rows)."""
    if frame.is_empty():
        return MetadataValue.md("_none_")
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(limit).iter_rows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    if frame.height > limit:
        lines.append(f"\n… and {frame.height - limit} more")
    return MetadataValue.md("\n".join(lines))


def mlflow_metadata(settings: Settings, experiment_id: str, run_id: str) -> dict[str, Any]:
    """The MLflow run of a step as asset metadata: its id, the tracking URI and, when a UI URL is
    known (``mlflow_ui_url`` or an http(s) tracking URI), a link."""
    link = run_link(ui_base(settings.tracking_uri, settings.mlflow_ui_url), experiment_id, run_id)
    return {
        "mlflow_run_id": run_id,
        "mlflow_tracking_uri": settings.tracking_uri,
        **({"mlflow_run": MetadataValue.url(link)} if link else {}),
    }
