"""Ingest stage: the landing folder's files (``raw_manifest``) and their segments
(``augmented_segments``), per audio class."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, asset

from sec_assets.core.audio.manifest import scan_class
from sec_assets.core.audio.segments import SourceFile, encode_audio, plan_class, segment_source
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    ONE_RUN,
    SEGMENT_SHARD,
    STEP_RETRY,
    asset_boundary,
    class_name,
    each_partition,
    finish,
    md_table,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, audio_class_partitions
from sec_assets.resources import SecResource

GROUP = "ingest"


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    code_version="1",
    group_name=GROUP,
    description="Every file under the class folder (recursive, hidden entries ignored): format, "
    "rate, channels, decodable frames, sha256; bad files recorded as failed with the reason.",
)
@asset_boundary
def raw_manifest(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return each_partition(context, lambda key: _raw_manifest_one(context, sec, key))


def _raw_manifest_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    name = class_name(sec, key)
    class_dir = sec.audio_root_path / name

    def progress(done: int, path: Path) -> None:
        if done % 200 == 0:
            context.log.info(f"{key}: scanned {done} files (last: {path.name})")

    frame = scan_class(class_dir, name, key, progress)
    written = catalog.write_table_partition(sec.home_path, "raw_manifest", {AUDIO_CLASS: key}, frame)
    ok = frame.filter(pl.col("status") == "ok")
    failed = frame.filter(pl.col("status") == "failed")
    for row in failed.iter_rows(named=True):
        context.log.warning(f"{key}: {row['relative_path']} failed: {row['error']}")
    hours = float(ok["duration_s"].sum() or 0.0) / 3600
    all_classes = catalog.query(
        sec.home_path,
        "SELECT count(DISTINCT partition_key) AS classes, coalesce(sum(duration_s), 0) / 3600 AS hours"
        " FROM audio_files WHERE status = 'ok'",
    ).row(0, named=True)
    context.log.info(f"{key} ({name!r}): {ok.height} ok, {failed.height} failed, {hours:.3f} h")
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params={"audio_root": sec.audio_root_path},
        inputs=[],
        metadata={
            "class_name": name,
            "files": frame.height,
            "files_ok": ok.height,
            "files_failed": failed.height,
            "class_hours": round(hours, 4),
            "total_hours_all_classes": round(float(all_classes["hours"]), 4),
            "classes_scanned": int(all_classes["classes"]),
            "failures": md_table(failed.select("relative_path", "error")),
        },
    )


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    deps=[AssetDep("raw_manifest")],
    code_version="2",
    retry_policy=STEP_RETRY,
    group_name=GROUP,
    description="Fixed-length mono segments at the target rate (repeat-padded tails), with "
    "seeded noise augmentation; audio stored as float16 PCM, keyed by (class, sha256, round, index).",
)
@asset_boundary
def augmented_segments(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return each_partition(context, lambda key: _augmented_segments_one(context, sec, key))


def _augmented_segments_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    params = cfg.segment_params()
    manifest = storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: key})
    ok = manifest.filter(pl.col("status") == "ok")
    unique = ok.unique("sha256", keep="first", maintain_order=True).sort("sha256")
    sources = [
        SourceFile(Path(r["path"]), r["sha256"], r["sample_rate"], r["frames"])
        for r in unique.iter_rows(named=True)
    ]
    plan = plan_class(sources, params, key)
    planned = sum(len(w) for w in plan.values())
    context.log.info(
        f"{key}: {planned} segments planned from {len(sources)} files "
        f"(rounds: {sorted({w.round for ws in plan.values() for w in ws})})"
    )
    class_name = unique["audio_class"][0] if unique.height else key
    skipped: list[dict[str, str]] = []
    counts = {"segments": 0, "padded": 0, "rounds": 0}

    def shards() -> Iterator[pl.DataFrame]:
        rows: list[dict[str, Any]] = []
        for i, src in enumerate(sources):
            try:
                for seg in segment_source(src, plan[src.sha256], key, params):
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
                            "audio": encode_audio(seg.audio),
                        }
                    )
                    counts["segments"] += 1
                    counts["padded"] += int(seg.padded)
                    counts["rounds"] = max(counts["rounds"], seg.round + 1)
                    if len(rows) >= SEGMENT_SHARD:
                        yield pl.DataFrame(rows, schema=catalog.TABLE_SCHEMAS["augmented_segments"])
                        rows = []
            except Exception as exc:  # one bad file must not lose the class; it is reported
                skipped.append({"path": str(src.path), "error": str(exc)})
                context.log.warning(f"{key}: skipped {src.path}: {exc}")
            if (i + 1) % 50 == 0:
                context.log.info(
                    f"{key}: segmented {i + 1}/{len(sources)} files, {counts['segments']} segments"
                )
        if rows:
            yield pl.DataFrame(rows, schema=catalog.TABLE_SCHEMAS["augmented_segments"])

    written = catalog.write_table_partition(home, "augmented_segments", {AUDIO_CLASS: key}, shards())
    inputs = upstream(home, [("raw_manifest", key)])
    target = params.target_segments
    if target and counts["segments"] < target:
        context.log.warning(
            f"{key}: {counts['segments']} segments, short of the target {target} after "
            f"{params.max_rounds} rounds (too little usable audio)"
        )
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params={**vars(params), "storage": "float16"},
        inputs=inputs,
        metadata={
            "segments": counts["segments"],
            "target_segments": target or "one pass",
            "rounds": counts["rounds"],
            "padded_segments": counts["padded"],
            "source_files": len(sources),
            "duplicate_files_skipped": ok.height - unique.height,
            "files_failed_to_segment": len(skipped),
            "segment_hours": round(counts["segments"] * params.segment_seconds / 3600, 4),
            "failures": md_table(pl.DataFrame(skipped, schema={"path": pl.String, "error": pl.String})),
        },
    )


ASSETS = [raw_manifest, augmented_segments]
defs = Definitions(assets=ASSETS)
