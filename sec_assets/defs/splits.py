"""``splits``: train / es / valid / test of the source files per audio class, in the ingest
group — it runs on the manifest before segmentation (a file's split decides whether its
segments are augmented), so it sits beside ``raw_manifest`` and ``augmented_segments``."""

import shutil
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sec_assets.core.audio.manifest import with_table_columns
from sec_assets.core.audio.splits import (
    SPLITS,
    GroupMoves,
    assign_class_grouped,
    assign_files,
    assign_folds,
    files_in_two_splits,
    groups_in_two_splits,
)
from sec_assets.core.datasets.source import DatasetSpec, protocol_line
from sec_assets.core.hashing import stable_hex
from sec_assets.core.store import catalog, schemas, storage
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
NO_FILE_IN_TWO_SPLITS = "no_file_in_two_splits"  # the asset checks on splits
NO_GROUP_IN_TWO_SPLITS = "no_group_in_two_splits"


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    deps=[AssetDep("raw_manifest")],
    code_version="2",  # (grouped and fold splits are new parameters; a folder class's split is as before)
    group_name=GROUP,
    check_specs=[
        AssetCheckSpec(
            NO_FILE_IN_TWO_SPLITS,
            asset="splits",
            description="no source file (content hash) is in two splits, across every class",
        ),
        AssetCheckSpec(
            NO_GROUP_IN_TWO_SPLITS,
            asset="splits",
            blocking=True,
            description="no source group (recording, speaker, site) is in two splits, across every "
            "class; groups the official folds put in two folds are reported, not failed",
        ),
    ],
    description="train / es / valid / test of every usable source file before segmentation (valid "
    "and test segments are cut clean): the official folds when test_fold is set; else the source "
    "group's own draw when the file has a group (table column or group_pattern), so no group "
    "straddles splits; else the file's content-hash draw. Adding files never moves a group or file.",
    kinds={"parquet", "duckdb"},
)
@asset_boundary
def splits(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    result = each_partition(context, lambda key: _splits_one(context, sec, key))
    return MaterializeResult(
        metadata=result.metadata,
        check_results=[_no_file_in_two_splits(sec), _no_group_in_two_splits(sec)],
    )


def _splits_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    dataset = cfg.dataset()
    _drop_old_layout(context, home)
    params: dict[str, Any] = {
        "fractions": cfg.training.split_fractions,
        "seed": cfg.seed,
        "unit": "source_file",
    }
    manifest = with_table_columns(storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: key}))
    files = (
        manifest.filter(pl.col("status") == "ok")
        .unique("sha256", keep="first", maintain_order=True)
        .select(
            pl.lit(key).alias("partition_key"),
            pl.col("sha256").alias("source_sha256"),
            pl.col("source_group").alias("group"),
            "fold",
        )
    )
    grouped = files["group"].is_not_null().any()
    if dataset.follows_folds:
        params.update(unit="official fold", test_fold=dataset.test_fold, valid_fold=dataset.valid_fold)
    elif grouped:
        index = _group_index(sec, dataset)
        params.update(unit="source_group", group_index=stable_hex("groups", index.sort(index.columns).rows()))
    inputs = upstream(home, [("raw_manifest", key)])
    if (
        kept := unchanged(context, sec, Written(key, "splits", {AUDIO_CLASS: key}, params, inputs))
    ) is not None:
        return kept
    moves = GroupMoves({}, {})
    if dataset.follows_folds:
        assert dataset.test_fold is not None
        assigned = assign_folds(
            files, dataset.test_fold, dataset.valid_fold, cfg.training.split_fractions, cfg.seed
        )
    elif grouped:
        assigned, moves = assign_class_grouped(files, index, cfg.training.split_fractions, cfg.seed)
        assigned = assigned.join(files.select("source_sha256", "fold"), on="source_sha256", how="left")
    else:
        assigned, moved = assign_files(files, cfg.training.split_fractions, cfg.seed)
        assigned = assigned.with_columns(
            pl.lit(None, pl.String).alias("group"), pl.lit(None, pl.Int64).alias("fold")
        )
        if moved.get(key):
            moves = GroupMoves({key: (f"{moved[key]} file(s)",)}, {})
    assigned = assigned.rename({"group": "source_group"}).select(list(schemas.TABLE_SCHEMAS["splits"]))
    written = catalog.write_table_partition(home, "splits", {AUDIO_CLASS: key}, assigned)
    counts = {s: int((assigned["split"] == s).sum()) for s in SPLITS}
    missing = [s for s in SPLITS if counts[s] == 0 and assigned.height]
    if missing:
        context.log.warning(f"{key}: {assigned.height} files, none in {', '.join(missing)} (a small class)")
    for need in moves.unmet.get(key, ()):
        context.log.warning(
            f"{key}: no {need} file: its groups do not allow one without a group in two splits "
            "(too few groups for the split fractions)"
        )
    groups = assigned["source_group"].drop_nulls()
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
            "protocol": protocol_line(dataset, groups.n_unique()),
            "source_groups": groups.n_unique(),
            **{
                f"{s}_groups": assigned.filter(pl.col("split") == s)["source_group"].drop_nulls().n_unique()
                for s in SPLITS
            },
            "small_class_moves": "; ".join(moves.moved.get(key, ())) or "none",
            "unmet_splits": ", ".join(moves.unmet.get(key, ())) or "none",
        },
    )


def _group_index(sec: SecResource, dataset: DatasetSpec) -> pl.DataFrame:
    """(partition_key, group) of every class: the whole table's, or for folder data the classes
    catalogued so far (a class whose manifest is not yet written joins on its own run)."""
    if dataset.table is not None:
        keys = {name: k for k, name in dataset.classes().items()}
        rows = dataset.read_table().rows.filter(pl.col("group").is_not_null())
        return rows.select(
            pl.col("label").replace_strict(keys, return_dtype=pl.String).alias("partition_key"), "group"
        ).unique()
    found = catalog.select(
        sec.home_path,
        "audio_files",
        ["partition_key", "source_group"],
        where="status = 'ok' AND source_group IS NOT NULL",
        distinct=True,
    )
    return found.rename({"source_group": "group"})


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


def _no_group_in_two_splits(sec: SecResource) -> AssetCheckResult:
    assigned = catalog.query(
        sec.home_path,
        'SELECT partition_key, source_sha256, split, source_group AS "group", fold FROM splits',
    )
    leaking = groups_in_two_splits(assigned)
    published = (
        assigned.filter(pl.col("group").is_not_null() & pl.col("fold").is_not_null())
        .group_by("group")
        .agg(pl.col("fold").n_unique().alias("folds"))
        .filter(pl.col("folds") > 1)["group"]
    )
    as_published = leaking.filter(pl.col("group").is_in(published.implode()))
    failing = leaking.filter(~pl.col("group").is_in(published.implode()))
    groups = assigned["group"].drop_nulls().n_unique()

    def table(frame: pl.DataFrame) -> MetadataValue:
        return md_table(
            frame.with_columns(
                pl.col("splits").list.join(", "), pl.col("partition_key").list.join(", ").alias("classes")
            ).select("group", "splits", "classes"),
            limit=20,
        )

    return AssetCheckResult(
        check_name=NO_GROUP_IN_TWO_SPLITS,
        passed=failing.is_empty(),
        description=(
            f"{failing.height} source groups are in more than one split"
            if failing.height
            else f"{groups} source groups, each in one split"
            + (f" ({as_published.height} in two official folds, as published)" if as_published.height else "")
        ),
        metadata={
            "groups": groups,
            "groups_in_two_splits": failing.height,
            "examples": table(failing),
            "groups_in_two_folds_as_published": as_published.height,
            "as_published": table(as_published),
        },
    )


ASSETS = [splits]
defs = Definitions(assets=ASSETS)
