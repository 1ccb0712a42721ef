"""Ingest stage: the landing folder's files (``raw_manifest``) and their segments
(``augmented_segments``), per audio class."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    asset,
)

from sec_assets.core.audio.manifest import rescan_entries, source_files, with_table_columns
from sec_assets.core.audio.segments import SourceFile, plan_class, segment_source
from sec_assets.core.audio.splits import AUGMENTED_SPLITS
from sec_assets.core.audio.stored import LINEAGE_STORAGE, stored_audio
from sec_assets.core.progress import Progress
from sec_assets.core.store import catalog, schemas, stat_cache, storage
from sec_assets.defs._shared import (
    FAILURE_COLUMNS,
    SEGMENT_SHARD,
    STEP_RETRY,
    Written,
    asset_boundary,
    class_name,
    current_lineage,
    each_partition,
    finish,
    md_table,
    unchanged,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, CLASS_BACKFILL, audio_class_partitions
from sec_assets.resources import SecResource

GROUP = "ingest"
HAS_SEGMENTS = "has_segments"  # the asset check on augmented_segments


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    code_version="2",
    group_name=GROUP,
    description="Every file under the class folder (recursive, hidden entries ignored) or every "
    "row of the class in the dataset table (with its row, source group, fold and clip bounds): "
    "format, rate, channels, decodable frames, sha256, non-finite samples and peak; bad, missing, "
    "too-short or (by policy) non-finite files recorded as failed with the reason, repairs recorded.",
    kinds={"parquet", "duckdb"},
)
@asset_boundary
def raw_manifest(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return each_partition(context, lambda key: _raw_manifest_one(context, sec, key))


def _raw_manifest_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    name = class_name(sec, key)
    dataset = sec.settings.dataset()

    lines: list[Progress] = []

    def progress(done: int, total: int) -> None:  # the listing is known once the first file is done
        if not lines:
            lines.append(Progress(f"{key}: hashed and graded", total, "files", context.log.info))
        lines[0].update(done)

    policy = sec.settings.file_policy()
    home, dims = sec.home_path, {AUDIO_CLASS: key}
    params = {
        "audio_root": sec.audio_root_path,
        **vars(policy.samples),
        "min_clip_seconds": policy.min_clip_seconds,
        **({"audio_formats": list(policy.formats)} if policy.formats else {}),  # (unset: as before)
    }
    if dataset.table is not None or dataset.group_pattern:  # (class folders without groups: as before)
        params["dataset"] = {
            "layout": "table" if dataset.table is not None else "class folders",
            "table": str(dataset.table) if dataset.table is not None else None,
            "columns": dataset.columns.mapped() if dataset.table is not None else None,
            "group_pattern": dataset.group_pattern,
        }  # a class's table rows are in its manifest (row, group, fold, bounds): an edited row
        # changes its class's output fingerprint, and only that class's
    what = Written(key, "raw_manifest", dims, params, [])
    previous = (
        with_table_columns(storage.read_partition(home, "raw_manifest", dims))
        if current_lineage(context, sec, what)
        else None
    )
    entries = dataset.entries(name, policy)
    scan = rescan_entries(entries, name, key, previous, stat_cache.read(home, key), progress, policy)
    frame = scan.manifest
    kept = unchanged(context, sec, what) if previous is not None and frame.equals(previous) else None
    if kept is None:
        written = catalog.write_table_partition(home, "raw_manifest", dims, frame)
    stat_cache.write(home, key, scan.stats)
    ok = frame.filter(pl.col("status") == "ok")
    failed = frame.filter(pl.col("status") == "failed")
    repaired = ok.filter(pl.col("repair").is_not_null())
    for row in failed.iter_rows(named=True):
        context.log.warning(f"{key}: {row['relative_path']} failed: {row['error']}")
    for row in repaired.iter_rows(named=True):
        context.log.warning(f"{key}: {row['relative_path']} repaired: {row['repair']}")
    hours = float(ok["duration_s"].sum() or 0.0) / 3600
    all_classes = catalog.query(
        sec.home_path,
        "SELECT count(DISTINCT partition_key) AS classes, coalesce(sum(duration_s), 0) / 3600 AS hours"
        " FROM audio_files WHERE status = 'ok'",
    ).row(0, named=True)
    context.log.info(
        f"{key} ({name!r}): {ok.height} ok, {failed.height} failed, {hours:.3f} h; "
        f"{frame.height - scan.reused} file(s) read, {scan.reused} unchanged (size and mtime)"
    )
    metadata: dict[str, Any] = {
        "class_name": name,
        **({"table_rows_hash": dataset.rows_hash(name) or ""} if dataset.table is not None else {}),
        **(
            {"source_groups": frame["source_group"].drop_nulls().n_unique()}
            if dataset.group_pattern or dataset.table
            else {}
        ),
        "files": frame.height,
        "files_reread": frame.height - scan.reused,
        "files_ok": ok.height,
        "files_failed": failed.height,
        "files_repaired": repaired.height,
        "class_hours": round(hours, 4),
        "total_hours_all_classes": round(float(all_classes["hours"]), 4),
        "classes_scanned": int(all_classes["classes"]),
        "failures": md_table(failed.select("relative_path", "error")),
        "repairs": md_table(repaired.select("relative_path", "repair")),
    }
    if kept is not None:
        return MaterializeResult(metadata={**(kept.metadata or {}), **metadata})
    return finish(
        context, sec=sec, partition_key=key, written=written, params=params, inputs=[], metadata=metadata
    )


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    deps=[AssetDep("raw_manifest"), AssetDep("splits")],
    code_version="5",
    retry_policy=STEP_RETRY,
    group_name=GROUP,
    check_specs=[
        AssetCheckSpec(
            HAS_SEGMENTS,
            asset="augmented_segments",
            description="every class of the run has at least one segment (WARN names the empty ones)",
        )
    ],
    description="Fixed-length mono segments at the target rate (repeat-padded tails and short "
    "clips); train/es files augmented (seeded noise, gain, shift; extra rounds to the target), "
    "valid/test files clean, one pass. Audio stored as float16 PCM (never NaN/inf), or with "
    "segment_storage: recipe only its recipe (regenerated from the source on read); every row "
    "has the audio's sha256, its key (class, sha256, round, index), the file's split and repair.",
    kinds={"parquet", "duckdb"},
)
@asset_boundary
def augmented_segments(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    result = each_partition(context, lambda key: _augmented_segments_one(context, sec, key))
    return MaterializeResult(
        metadata=result.metadata, check_results=[_has_segments(sec, list(context.partition_keys))]
    )


def _has_segments(sec: SecResource, keys: list[str]) -> AssetCheckResult:
    """WARN when a class of this run (or any catalogued class) has zero segments."""
    counts = catalog.query(
        sec.home_path,
        "SELECT partition_key, rows FROM lineage WHERE asset = 'augmented_segments' ORDER BY 1",
    )
    empty_now = [
        k for k in keys if counts.filter((pl.col("partition_key") == k) & (pl.col("rows") == 0)).height
    ]
    empty_all = counts.filter(pl.col("rows") == 0)["partition_key"].to_list()
    return AssetCheckResult(
        check_name=HAS_SEGMENTS,
        passed=not empty_now,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{len(empty_now)} of {len(keys)} classes have no segments: {', '.join(empty_now)}"
            if empty_now
            else f"all {len(keys)} classes have segments"
        ),
        metadata={
            "empty_classes": ", ".join(empty_now) or "none",
            "empty_classes_in_catalog": ", ".join(empty_all) or "none",
            "empty_count_in_catalog": len(empty_all),
        },
    )


def _augmented_segments_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    params = cfg.segment_params()
    mode = cfg.segment_storage
    both = cfg.segment_views == "both"  # every file gets both views (features shared by every fold)
    lineage_params = {
        **vars(params),
        "storage": LINEAGE_STORAGE[mode],
        "augmented_splits": AUGMENTED_SPLITS,
        **({"segment_views": "both"} if both else {}),  # by_split partitions keep their lineage
    }
    inputs = upstream(home, [("raw_manifest", key), ("splits", key)])
    kept = unchanged(
        context, sec, Written(key, "augmented_segments", {AUDIO_CLASS: key}, lineage_params, inputs)
    )
    if kept is not None:
        return kept
    manifest = storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: key})
    sources, duplicates = source_files(manifest)
    split_of = file_splits(home, key, sources)
    training = [s for s in sources if both or split_of[s.sha256] in AUGMENTED_SPLITS]
    held_out = [s for s in sources if not both and split_of[s.sha256] not in AUGMENTED_SPLITS]
    # extra rounds (target_segments_per_class) for training files only: valid and test are one
    # clean pass, each recording once; with both views every file has the training plan, and
    # its clean round 0 beside it
    plan = {
        **plan_class(training, params, key),
        **plan_class(held_out, dataclasses.replace(params, target_segments=None), key),
    }
    planned = sum(len(w) for w in plan.values())
    context.log.info(
        f"{key}: {planned} windows planned from {len(sources)} files ("
        + (
            "every file in both views, clean and augmented"
            if both
            else f"{len(training)} train/es augmented, {len(held_out)} valid/test clean"
        )
        + "; rounds: "
        f"{sorted({w.round for ws in plan.values() for w in ws})})"
    )
    class_name = manifest["audio_class"][0] if manifest.height else key
    skipped: list[dict[str, str]] = [
        {
            "source_sha256": s.sha256,
            "path": str(s.path),
            "reason": "no window: too short for these parameters",
        }
        for s in sources
        if not plan[s.sha256]
    ]
    counts = {"segments": 0, "padded": 0, "rounds": 0}

    line = Progress(f"{key}: segmented", len(sources), "files", context.log.info)

    def shards() -> Iterator[pl.DataFrame]:
        rows: list[dict[str, Any]] = []
        for i, src in enumerate(sources):
            made = 0
            try:
                augment = both or split_of[src.sha256] in AUGMENTED_SPLITS
                for seg in segment_source(src, plan[src.sha256], key, params, augment, both):
                    audio, digest = stored_audio(seg.audio, mode)
                    rows.append(
                        {
                            "segment_key": seg.key,
                            "audio_class": class_name,
                            "partition_key": key,
                            "source_sha256": src.sha256,
                            "source_path": str(src.path),
                            "round": seg.round,
                            "index": seg.index,
                            "start_s": seg.start_s,
                            "duration_s": seg.duration_s,
                            "padded": seg.padded,
                            "sample_rate": params.sample_rate,
                            "seed": seg.seed,
                            "gain_db": seg.gain_db,
                            "shift_frames": seg.shift_frames,
                            "noise_gain": seg.noise_gain,
                            "noise_rms": seg.noise_rms,
                            "repair": seg.repair,
                            "split": split_of[src.sha256],
                            "augmented": seg.augmented,
                            "audio": audio,
                            "audio_sha256": digest,
                        }
                    )
                    made += 1
                    counts["segments"] += 1
                    counts["padded"] += int(seg.padded)
                    counts["rounds"] = max(counts["rounds"], seg.round + 1)
                    if len(rows) >= SEGMENT_SHARD:
                        yield pl.DataFrame(rows, schema=schemas.TABLE_SCHEMAS["augmented_segments"])
                        rows = []
            except Exception as exc:  # one bad file must not lose the class; it is reported
                reason = f"{exc} (after {made} of {len(plan[src.sha256])} segments)"
                skipped.append({"source_sha256": src.sha256, "path": str(src.path), "reason": reason})
                context.log.warning(f"{key}: skipped {src.path}: {reason}")
            line.update(i + 1, f"{counts['segments']} segments")
        if rows:
            yield pl.DataFrame(rows, schema=schemas.TABLE_SCHEMAS["augmented_segments"])

    written = catalog.write_table_partition(home, "augmented_segments", {AUDIO_CLASS: key}, shards())
    catalog.record_failures(home, asset="augmented_segments", partition_key=key, rows=skipped)
    target = params.target_segments
    if target and counts["segments"] < target:
        context.log.warning(
            f"{key}: {counts['segments']} segments, short of the target {target} after "
            f"{params.max_rounds} rounds (too little usable audio)"
        )
    warning = "none"
    if counts["segments"] == 0:
        failed = manifest.filter(pl.col("status") == "failed")
        reasons = failed["error"].str.split(":").list.first().value_counts(sort=True, name="n")
        why = ", ".join(f"{r['n']}× {r['error']}" for r in reasons.iter_rows(named=True)) or "no files"
        warning = (
            f"class {class_name!r} ({key}) has NO segments: {manifest.height} files, {len(sources)} usable, "
            f"{failed.height} failed in raw_manifest ({why}), {len(skipped)} failed here. Downstream "
            "steps write empty partitions and training leaves the class out; see the raw_manifest "
            "failures (a clip needs min_clip_seconds of audio)"
        )
        context.log.warning(warning)
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params=lineage_params,
        inputs=inputs,
        metadata={
            "segments": counts["segments"],
            "segment_storage": mode,
            "segment_views": cfg.segment_views,
            "warning": warning,
            "target_segments": target or "one pass",
            "rounds": counts["rounds"],
            "padded_segments": counts["padded"],
            "repaired_source_files": sum(s.repair.active for s in sources),
            "source_files": len(sources),
            "duplicate_files_skipped": duplicates,
            "files_failed_to_segment": len(skipped),
            "segment_hours": round(counts["segments"] * params.segment_seconds / 3600, 4),
            "failures": md_table(pl.DataFrame(skipped, schema=FAILURE_COLUMNS).select("path", "reason")),
        },
    )


def file_splits(home: Path, key: str, sources: list[SourceFile]) -> dict[str, str]:
    """sha256 → split of the class's files, from its ``splits`` partition (which must cover them)."""
    frame = storage.read_partition(home, "splits", {AUDIO_CLASS: key})
    split_of = dict(zip(frame["source_sha256"], frame["split"], strict=True))
    missing = [s.path.name for s in sources if s.sha256 not in split_of]
    if missing:
        raise FileNotFoundError(
            f"{key}: {len(missing)} file(s) have no split (e.g. {missing[0]}): the splits partition is "
            "older than raw_manifest; materialize splits for the class first"
        )
    return split_of


ASSETS = [raw_manifest, augmented_segments]
defs = Definitions(assets=ASSETS)
