"""``splits``: train / es / valid / test of the source files per audio class, in the ingest
group — it runs on the manifest before segmentation (a file's split decides whether its
segments are augmented), so it sits beside ``raw_manifest`` and ``augmented_segments``."""

import shutil
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    asset,
)

from sec_assets.core.audio.manifest import source_files
from sec_assets.core.audio.splits import SPLITS, assign_files, files_in_two_splits
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    Written,
    asset_boundary,
    each_partition,
    finish,
    md_table,
    unchanged,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, CLASS_BACKFILL, OCTAVE, audio_class_partitions
from sec_assets.resources import SecResource

GROUP = "ingest"
NO_FILE_IN_TWO_SPLITS = "no_file_in_two_splits"  # the asset check on splits


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    deps=[AssetDep("raw_manifest")],
    code_version="2",
    group_name=GROUP,
    check_specs=[
        AssetCheckSpec(
            NO_FILE_IN_TWO_SPLITS,
            asset="splits",
            description="no source file (content hash) is in two splits, across every class",
        )
    ],
    description="train / es / valid / test of every usable source file, drawn from its content "
    "hash and the seed alone (adding files never moves one), before segmentation: valid and test "
    "segments are cut clean. Segments inherit their file's split, so no recording is in two.",
    kinds={"parquet", "duckdb"},
)
@asset_boundary
def splits(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    result = each_partition(context, lambda key: _splits_one(context, sec, key))
    return MaterializeResult(metadata=result.metadata, check_results=[_no_file_in_two_splits(sec)])


def _splits_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    _drop_old_layout(context, home)
    params = {"fractions": cfg.training.split_fractions, "seed": cfg.seed, "unit": "source_file"}
    inputs = upstream(home, [("raw_manifest", key)])
    if (
        kept := unchanged(context, sec, Written(key, "splits", {AUDIO_CLASS: key}, params, inputs))
    ) is not None:
        return kept
    sources, _ = source_files(storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: key}))
    files = pl.DataFrame(
        {"partition_key": [key] * len(sources), "source_sha256": [s.sha256 for s in sources]},
        schema={"partition_key": pl.String, "source_sha256": pl.String},
    )
    assigned, moved = assign_files(files, cfg.training.split_fractions, cfg.seed)
    written = catalog.write_table_partition(home, "splits", {AUDIO_CLASS: key}, assigned)
    counts = {s: int((assigned["split"] == s).sum()) for s in SPLITS}
    missing = [s for s in SPLITS if counts[s] == 0 and assigned.height]
    if missing:
        context.log.warning(f"{key}: {assigned.height} files, none in {', '.join(missing)} (a small class)")
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params=params,
        inputs=inputs,
        metadata={
            "files": assigned.height,
            **{f"{s}_files": counts[s] for s in SPLITS},
            "splits_without_files": ", ".join(missing) or "none",
            "files_moved_small_class": moved.get(key, 0),
        },
    )


def _drop_old_layout(context: AssetExecutionContext, home: Path) -> None:
    """``splits`` was per octave and per segment until December 2026; those partitions are superseded."""
    for old in sorted(storage.table_dir(home, "splits").glob(f"{OCTAVE}=*")):
        shutil.rmtree(old, ignore_errors=True)
        context.log.info(f"removed the superseded per-octave splits partition {old}")


def _no_file_in_two_splits(sec: SecResource) -> AssetCheckResult:
    assigned = catalog.query(sec.home_path, "SELECT partition_key, source_sha256, split FROM splits")
    leaking = files_in_two_splits(assigned)
    return AssetCheckResult(
        check_name=NO_FILE_IN_TWO_SPLITS,
        passed=leaking.is_empty(),
        description=f"{leaking.height} source files are in more than one split"
        if leaking.height
        else f"{assigned['source_sha256'].n_unique()} files, each in one split",
        metadata={
            "files_in_two_splits": leaking.height,
            "examples": md_table(
                leaking.with_columns(
                    pl.col("splits").list.join(", "), pl.col("partition_key").list.join(", ").alias("classes")
                ).select("source_sha256", "splits", "classes"),
                limit=20,
            ),
        },
    )


ASSETS = [splits]
defs = Definitions(assets=ASSETS)
