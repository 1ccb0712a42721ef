"""The eight assets: a thin Dagster shell over :mod:`sec_assets.core`.

Each asset writes its own partition of the Parquet store (atomically, replacing), records one
lineage row for it, and returns metadata for the UI. Nothing flows through an IO manager, so the
same code runs in-process, in subprocesses or as Slurm jobs on other nodes.
"""

import functools
import json
import os
import resource
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    RetryPolicy,
    asset,
)

import sec_assets
from sec_assets.core.audio.manifest import discover_classes, scan_class
from sec_assets.core.audio.segments import SourceFile, decode_audio, encode_audio, plan_class, segment_source
from sec_assets.core.devices import resolve_device
from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.evaluation.report import render_markdown
from sec_assets.core.features import clap, embedding, octave
from sec_assets.core.features.stats import load_features
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models import splits, zero_shot
from sec_assets.core.models.classifier import TrainedClassifier, train_linear
from sec_assets.core.settings import SPLITS
from sec_assets.core.store import catalog, storage
from sec_assets.partitions import (
    AUDIO_CLASS,
    OCTAVE,
    audio_class_partitions,
    class_octave_partitions,
    octave_partitions,
)
from sec_assets.resources import SecResource

with warnings.catch_warnings():  # the mapping is "beta" in Dagster 1.13; tested here
    warnings.simplefilter("ignore", BetaWarning)
    _BY_CLASS = MultiToSingleDimensionPartitionMapping(partition_dimension_name=AUDIO_CLASS)
    _BY_OCTAVE = MultiToSingleDimensionPartitionMapping(partition_dimension_name=OCTAVE)
_ALL = AllPartitionMapping()

# A step whose job ended without a result (scancel, node failure, preemption) is run again once;
# every write is atomic and clap_embeddings resumes from its committed shards.
STEP_RETRY = RetryPolicy(max_retries=1, delay=2)
# A backfill of many classes is one run whose per-class steps each loop over all its partitions:
# one Slurm job (one queue wait, one interpreter start) per step instead of one per class.
ONE_RUN = BackfillPolicy.single_run()
SEGMENT_SHARD = 64  # segments per Parquet file: bounds memory by the shard, not the class

CODE_VERSIONS = {
    "raw_manifest": "1",
    "augmented_segments": "2",
    "clap_embeddings": "2",
    "octave_spectrograms": "2",
    "splits": "1",
    "trained_classifier": "1",
    "evaluation_report": "1",
    "zero_shot_baseline": "1",
}


def _code_version(asset_name: str) -> str:
    return f"sec_assets-{sec_assets.__version__}/{asset_name}-v{CODE_VERSIONS[asset_name]}"


def _class_name(sec: SecResource, key: str) -> str:
    classes = discover_classes(sec.audio_root_path)
    if key not in classes:
        raise FileNotFoundError(
            f"partition {key!r} has no class folder under {sec.audio_root}: the folder was removed"
            " or renamed; run `sec-assets scan` to register the current folders"
        )
    return classes[key]


def _registered_classes(context: AssetExecutionContext) -> list[str]:
    keys = sorted(context.instance.get_dynamic_partitions(AUDIO_CLASS))
    if not keys:
        raise ValueError("no audio_class partitions are registered: run `sec-assets scan` first")
    return keys


def _upstream(home: Path, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Lineage references of the inputs; a missing one fails with what to materialize."""
    refs = []
    for asset_name, key in pairs:
        row = catalog.read_lineage(home, asset_name, key)
        if row is None:
            raise FileNotFoundError(f"{asset_name} partition {key!r} is not materialized yet")
        refs.append(
            {
                "asset": asset_name,
                "partition_key": key,
                "run_id": row["run_id"],
                "output_fingerprint": row["output_fingerprint"],
            }
        )
    return refs


def _finish(
    context: AssetExecutionContext,
    sec: SecResource,
    asset_name: str,
    partition_key: str,
    written: tuple[Path, str, int],
    params: Mapping[str, Any],
    inputs: list[dict[str, Any]],
    metadata: dict[str, Any],
) -> MaterializeResult:
    path, fingerprint, rows = written
    catalog.record_lineage(
        sec.home_path,
        asset=asset_name,
        partition_key=partition_key,
        run_id=context.run_id,
        code_version=_code_version(asset_name),
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
            "code_version": _code_version(asset_name),
            **_slurm_metadata(),
            **metadata,
        }
    )


def _slurm_metadata() -> dict[str, Any]:
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


@functools.lru_cache(maxsize=2)
def _loaded_clap(
    files: clap.ModelFiles, mtime_ns: int, size: int, device: str, precision: str
) -> clap.LoadedClap:
    """One loaded model per process (a range of partitions, or the demo's many runs); the file's
    mtime and size are part of the key, so replaced weights are loaded again."""
    return clap.load_clap(files, device=device, precision=precision)


def _each_partition(
    context: AssetExecutionContext, asset_name: str, one: Callable[[str], MaterializeResult]
) -> MaterializeResult:
    """Run ``one`` for every partition of this run (one, or a whole range under ``ONE_RUN``).

    Each partition is written and catalogued on its own; a range reports a per-partition table.
    """
    keys = list(context.partition_keys)
    if len(keys) == 1:
        return one(keys[0])
    started, rows = time.perf_counter(), []
    for i, key in enumerate(keys):
        meta = one(key).metadata or {}
        rows.append(
            {"partition": key, "rows": meta.get("rows"), "fingerprint": meta.get("output_fingerprint")}
        )
        context.log.info(f"{asset_name}: {i + 1}/{len(keys)} partitions done ({key})")
    table = pl.DataFrame(rows, schema={"partition": pl.String, "rows": pl.Int64, "fingerprint": pl.String})
    return MaterializeResult(
        metadata={
            "partitions": len(keys),
            "rows": int(table["rows"].sum()),
            "seconds": round(time.perf_counter() - started, 1),
            "per_partition": _md_table(table, limit=200),
            **_slurm_metadata(),
        }
    )


def _md_table(frame: pl.DataFrame, limit: int = 20) -> MetadataValue:
    if frame.is_empty():
        return MetadataValue.md("_none_")
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(limit).iter_rows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    if frame.height > limit:
        lines.append(f"\n… and {frame.height - limit} more")
    return MetadataValue.md("\n".join(lines))


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    code_version=CODE_VERSIONS["raw_manifest"],
    group_name="sec",
    description="Every file under the class folder (recursive, hidden entries ignored): format, "
    "rate, channels, decodable frames, sha256; bad files recorded as failed with the reason.",
)
def raw_manifest(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return _each_partition(context, "raw_manifest", lambda key: _raw_manifest_one(context, sec, key))


def _raw_manifest_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    name = _class_name(sec, key)
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
    return _finish(
        context,
        sec,
        "raw_manifest",
        key,
        written,
        {"audio_root": sec.audio_root},
        [],
        {
            "class_name": name,
            "files": frame.height,
            "files_ok": ok.height,
            "files_failed": failed.height,
            "class_hours": round(hours, 4),
            "total_hours_all_classes": round(float(all_classes["hours"]), 4),
            "classes_scanned": int(all_classes["classes"]),
            "failures": _md_table(failed.select("relative_path", "error")),
        },
    )


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    deps=[AssetDep("raw_manifest")],
    code_version=CODE_VERSIONS["augmented_segments"],
    retry_policy=STEP_RETRY,
    group_name="sec",
    description="Fixed-length mono segments at the target rate (repeat-padded tails), with "
    "seeded noise augmentation; audio stored as float16 PCM, keyed by (class, sha256, round, index).",
)
def augmented_segments(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return _each_partition(
        context, "augmented_segments", lambda key: _augmented_segments_one(context, sec, key)
    )


def _augmented_segments_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    home = sec.home_path
    params = sec.segment_params()
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
    inputs = _upstream(home, [("raw_manifest", key)])
    target = params.target_segments
    if target and counts["segments"] < target:
        context.log.warning(
            f"{key}: {counts['segments']} segments, short of the target {target} after "
            f"{params.max_rounds} rounds (too little usable audio)"
        )
    return _finish(
        context,
        sec,
        "augmented_segments",
        key,
        written,
        {**vars(params), "storage": "float16"},
        inputs,
        {
            "segments": counts["segments"],
            "target_segments": target or "one pass",
            "rounds": counts["rounds"],
            "padded_segments": counts["padded"],
            "source_files": len(sources),
            "duplicate_files_skipped": ok.height - unique.height,
            "files_failed_to_segment": len(skipped),
            "segment_hours": round(counts["segments"] * params.segment_seconds / 3600, 4),
            "failures": _md_table(pl.DataFrame(skipped, schema={"path": pl.String, "error": pl.String})),
        },
    )


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    deps=[AssetDep("augmented_segments")],
    code_version=CODE_VERSIONS["clap_embeddings"],
    group_name="sec",
    op_tags={"sec/resources": json.dumps({"gpus": 1})},
    retry_policy=STEP_RETRY,
    description="1024-d CLAP 2023 audio embeddings (float32) of every segment: batched, prefetched, "
    "resumable (vectors already made with the same weights and recipe are reused, never "
    "duplicated); weights sha256, recipe and run in every row. Fails with the command to run when "
    "the model store is empty, unless allow_random_init (the demo) — then loudly flagged.",
)
def clap_embeddings(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return _each_partition(context, "clap_embeddings", lambda key: _clap_embeddings_one(context, sec, key))


def _clap_embeddings_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    home = sec.home_path
    torch.set_num_threads(sec.cpu_count())
    files = clap.resolve_model_files(sec.models_path, sec.allow_random_init)
    if files.random_init:
        context.log.warning(
            "⚠ RANDOM-INIT CLAP: no real weights in the model store "
            f"({sec.models}); embeddings are NOT meaningful. Run `sec-assets models fetch`."
        )
    stat = files.weights.stat()
    model = _loaded_clap(files, stat.st_mtime_ns, stat.st_size, sec.embed_device, sec.embed_precision)
    forward_batch = sec.embed_batch_size
    if model.device != "cpu":
        forward_batch = sec.embed_gpu_batch_size or clap.gpu_batch_size(model.device)
    context.log.info(
        f"{key}: {files.model_id} on {model.device} ({model.precision}), forward batch {forward_batch}, "
        f"{torch.get_num_threads()} torch threads, {sec.embed_workers} prefetch workers"
    )

    def progress(stats: embedding.EmbedStats) -> None:
        context.log.info(
            f"{key}: {stats.embedded} embedded, {stats.total} segments read; "
            f"committed {stats.shards} shard(s); {stats.clips_per_second:.1f} clips/s"
        )

    written, stats = embedding.embed_stored_partition(
        home,
        {AUDIO_CLASS: key},
        key,
        model,
        context.run_id,
        batch_size=sec.embed_batch_size,
        workers=sec.embed_workers,
        forward_batch=forward_batch,
        commit_rows=sec.embed_commit_rows,
        progress=progress,
    )
    inputs = _upstream(home, [("augmented_segments", key)])
    params = {
        "model_id": files.model_id,
        "model_sha256": model.weights_sha256,
        "random_init": files.random_init,
        "recipe": model.recipe,
    }
    return _finish(
        context,
        sec,
        "clap_embeddings",
        key,
        written,
        params,
        inputs,
        {
            "model_id": files.model_id,
            "model_sha256": model.weights_sha256,
            "random_init": files.random_init,
            "warning": "RANDOM-INIT MODEL: embeddings are not meaningful" if files.random_init else "none",
            "recipe": model.recipe,
            "device": model.device,
            "segments": stats.total,
            "embedded_now": stats.embedded,
            "reused": stats.reused,
            "clips_per_second": round(stats.clips_per_second, 2),
            "input_wait_fraction": round(stats.input_wait_seconds / stats.seconds, 3)
            if stats.seconds
            else 0.0,
            "forward_batch": forward_batch,
            "torch_threads": torch.get_num_threads(),
        },
    )


@asset(
    partitions_def=class_octave_partitions,
    deps=[AssetDep("augmented_segments", partition_mapping=_BY_CLASS)],
    code_version=CODE_VERSIONS["octave_spectrograms"],
    group_name="sec",
    op_tags={"sec/resources": json.dumps({"cpus": 2})},
    retry_policy=STEP_RETRY,
    description="Per segment, band levels in dB (re 20 µPa or dBFS) over 0.1-s frames for 1/n-octave "
    "bands (base-2 grid around 1 kHz, or IEC base 10), by the fast torch filterbank (CPU or CUDA).",
)
def octave_spectrograms(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    key, n = keys[AUDIO_CLASS], int(keys[OCTAVE])
    home = sec.home_path
    rate = sec.target_sample_rate
    bands = octave.band_grid(n, rate, sec.octave_base)
    ref = octave.LEVEL_REFERENCES[sec.level_reference]
    device = resolve_device(sec.spectrogram_device)
    if device == "cpu":
        torch.set_num_threads(sec.cpu_count())
    counts = {"segments": 0, "n_frames": 0}
    started = time.perf_counter()

    def shards() -> Iterator[pl.DataFrame]:
        columns = ["segment_key", "source_sha256", "sample_rate", "audio"]
        for batch in storage.iter_partition_batches(
            home, "augmented_segments", {AUDIO_CLASS: key}, SEGMENT_SHARD, columns
        ):
            if batch["sample_rate"].n_unique() != 1 or batch["sample_rate"][0] != rate:
                raise ValueError(
                    f"{key}: segments are at {sorted(batch['sample_rate'].unique())} Hz but the "
                    f"configured target rate is {rate} Hz: re-materialize augmented_segments"
                )
            audio = np.stack([decode_audio(a) for a in batch["audio"]])
            levels = octave.fast_levels(
                audio,
                rate,
                n,
                sec.frame_seconds,
                ref=ref,
                floor_db=sec.floor_db,
                base=sec.octave_base,
                device=device,
                batch_size=sec.spectrogram_batch_size,
            )
            counts["segments"] += batch.height
            counts["n_frames"] = levels.shape[1]
            context.log.debug(f"{key} 1/{n}: {counts['segments']} segments")
            yield pl.DataFrame(
                {
                    "segment_key": batch["segment_key"],
                    "partition_key": [key] * batch.height,
                    "octave": [n] * batch.height,
                    "source_sha256": batch["source_sha256"],
                    "n_frames": [levels.shape[1]] * batch.height,
                    "n_bands": [levels.shape[2]] * batch.height,
                    "center_hz": [bands.center.tolist()] * batch.height,
                    "levels_db": [lv.ravel() for lv in levels],
                }
            )

    written = catalog.write_table_partition(
        home, "octave_spectrograms", {AUDIO_CLASS: key, OCTAVE: str(n)}, shards()
    )
    elapsed = time.perf_counter() - started
    inputs = _upstream(home, [("augmented_segments", key)])
    params = {
        "octave": n,
        "frame_seconds": sec.frame_seconds,
        "reference": sec.level_reference,
        "floor_db": sec.floor_db,
        "base": sec.octave_base,
        "method": "fast_levels (frame route + exact decimated route)",
        "device": device,
    }
    return _finish(
        context,
        sec,
        "octave_spectrograms",
        str(context.partition_key),
        written,
        params,
        inputs,
        {
            "octave": n,
            "bands": len(bands),
            "frames_per_segment": counts["n_frames"],
            "lowest_band_hz": round(float(bands.center[0]), 2),
            "highest_band_hz": round(float(bands.center[-1]), 2),
            "level_reference": sec.level_reference,
            "device": device,
            "segments_per_second": round(counts["segments"] / elapsed, 1) if elapsed > 0 else 0.0,
        },
    )


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("clap_embeddings", partition_mapping=_ALL),
        AssetDep("octave_spectrograms", partition_mapping=_BY_OCTAVE),
    ],
    name="splits",
    code_version=CODE_VERSIONS["splits"],
    group_name="sec",
    description="train / es / valid / test assignment of every segment, cut per source file "
    "(content hash) and stratified by class: no recording is in two splits.",
)
def splits_asset(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    n = int(context.partition_key)
    home = sec.home_path
    classes = _registered_classes(context)
    spectra = pl.concat(
        [
            storage.read_partition(
                home,
                "octave_spectrograms",
                {AUDIO_CLASS: k, OCTAVE: str(n)},
                ["segment_key", "partition_key", "source_sha256"],
            )
            for k in classes
        ]
    )
    embedded = pl.concat(
        [storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["segment_key"]) for k in classes]
    )
    segments = spectra.join(embedded, on="segment_key", how="semi")
    assigned = splits.assign_segments(segments, sec.split_fractions_or_default(), sec.seed)
    assigned = assigned.with_columns(pl.lit(n).alias("octave")).sort("segment_key")
    leaking = (
        assigned.group_by("source_sha256").agg(pl.col("split").n_unique().alias("k")).filter(pl.col("k") > 1)
    )
    if leaking.height:  # cannot happen by construction; checked because leakage is silent
        raise AssertionError(f"{leaking.height} source files are in more than one split")
    written = catalog.write_table_partition(home, "splits", {OCTAVE: str(n)}, assigned)
    inputs = _upstream(
        home,
        [("clap_embeddings", k) for k in classes] + [("octave_spectrograms", f"{k}|{n}") for k in classes],
    )
    table = (
        assigned.group_by("partition_key", "split")
        .len()
        .pivot(on="split", index="partition_key", values="len")
        .fill_null(0)
        .sort("partition_key")
    )
    for s in SPLITS:
        if s not in table.columns:
            table = table.with_columns(pl.lit(0).alias(s))
    return _finish(
        context,
        sec,
        "splits",
        str(n),
        written,
        {"fractions": sec.split_fractions_or_default(), "seed": sec.seed, "unit": "source_file"},
        inputs,
        {
            "classes": len(classes),
            "segments": assigned.height,
            **{f"{s}_segments": int((assigned["split"] == s).sum()) for s in SPLITS},
            "files_in_two_splits": 0,
            "per_class": _md_table(table.select("partition_key", *SPLITS), limit=50),
        },
    )


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("splits"),
        AssetDep("clap_embeddings", partition_mapping=_ALL),
        AssetDep("octave_spectrograms", partition_mapping=_BY_OCTAVE),
    ],
    code_version=CODE_VERSIONS["trained_classifier"],
    group_name="sec",
    op_tags={"sec/resources": json.dumps({"gpus": 1})},
    retry_policy=STEP_RETRY,
    description="Linear soft-max classifier on CLAP embedding ⊕ band-level statistics, "
    "early-stopped on the es split; deterministic.",
)
def trained_classifier(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    n = int(context.partition_key)
    home = sec.home_path
    torch.set_num_threads(sec.cpu_count())
    split_frame = storage.read_partition(home, "splits", {OCTAVE: str(n)})
    classes = sorted(split_frame["partition_key"].unique().to_list())
    fs = load_features(home, n, split_frame, classes)
    mask = {s: np.array([x == s for x in fs.splits], dtype=bool) for s in SPLITS}
    model = train_linear(
        fs.features[mask["train"]],
        fs.labels[mask["train"]],
        fs.features[mask["es"]],
        fs.labels[mask["es"]],
        fs.classes,
        seed=sec.seed,
        epochs=sec.classifier_epochs,
        patience=sec.classifier_patience,
        lr=sec.classifier_learning_rate,
    )
    blob = model.to_bytes()
    model_path = home / "artifacts" / "trained_classifier" / f"octave={n}" / "classifier.npz"
    storage.atomic_write_bytes(model_path, blob)
    model_sha = file_sha256(model_path)
    emb_models = (
        pl.concat(
            [
                storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["model_sha256"])
                for k in classes
            ]
        )["model_sha256"]
        .unique()
        .to_list()
    )
    row = pl.DataFrame(
        {
            "octave": [n],
            "model_path": [str(model_path)],
            "model_sha256": [model_sha],
            "classes": [fs.classes],
            "n_features": [fs.features.shape[1]],
            "n_train": [int(mask["train"].sum())],
            "n_es": [int(mask["es"].sum())],
            "epochs": [model.epochs],
            "best_es_loss": [model.best_es_loss],
            "embedding_model_sha256": [",".join(sorted(emb_models))],
        }
    )
    written = catalog.write_table_partition(home, "trained_classifier", {OCTAVE: str(n)}, row)
    inputs = _upstream(home, [("splits", str(n))])
    return _finish(
        context,
        sec,
        "trained_classifier",
        str(n),
        written,
        {
            "epochs": sec.classifier_epochs,
            "patience": sec.classifier_patience,
            "learning_rate": sec.classifier_learning_rate,
            "seed": sec.seed,
        },
        inputs,
        {
            "model_path": MetadataValue.path(str(model_path)),
            "model_sha256": model_sha,
            "classes": len(fs.classes),
            "features": fs.features.shape[1],
            "train_examples": int(mask["train"].sum()),
            "es_examples": int(mask["es"].sum()),
            "epochs_run": model.epochs,
            "best_es_loss": round(model.best_es_loss, 5),
        },
    )


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("trained_classifier"),
        AssetDep("splits"),
        AssetDep("clap_embeddings", partition_mapping=_ALL),
        AssetDep("octave_spectrograms", partition_mapping=_BY_OCTAVE),
    ],
    code_version=CODE_VERSIONS["evaluation_report"],
    group_name="sec",
    description="Accuracy, macro precision / recall / F0.5, mAP, per-class figures and the "
    "confusion matrix on the held-out valid and test splits; Markdown + JSON report.",
)
def evaluation_report(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    n = int(context.partition_key)
    home = sec.home_path
    model_row = storage.read_partition(home, "trained_classifier", {OCTAVE: str(n)}).row(0, named=True)
    model = TrainedClassifier.from_bytes(Path(model_row["model_path"]).read_bytes())
    split_frame = storage.read_partition(home, "splits", {OCTAVE: str(n)})
    fs = load_features(home, n, split_frame, model.classes)
    results = {}
    for s in ("valid", "test"):
        mask = np.array([x == s for x in fs.splits], dtype=bool)
        results[s] = evaluate(fs.labels[mask], model.probabilities(fs.features[mask]), fs.classes)
    report_dir = home / "reports" / f"octave={n}"
    markdown = render_markdown(f"Evaluation, 1/{n} octave", results, fs.classes)
    storage.atomic_write_bytes(report_dir / "report.md", markdown.encode())
    storage.atomic_write_bytes(report_dir / "report.json", json.dumps(results, indent=2).encode())
    rows = pl.DataFrame(
        [
            {
                "octave": n,
                "split": s,
                "n": r.get("n", 0),
                "accuracy": r.get("accuracy"),
                "macro_precision": r.get("macro_precision"),
                "macro_recall": r.get("macro_recall"),
                "macro_f05": r.get("macro_f05"),
                "mean_average_precision": r.get("mean_average_precision"),
                "model_sha256": model_row["model_sha256"],
                "report_path": str(report_dir / "report.md"),
            }
            for s, r in results.items()
        ],
        schema=catalog.TABLE_SCHEMAS["evaluation_report"],
    )
    written = catalog.write_table_partition(home, "evaluation_report", {OCTAVE: str(n)}, rows)
    inputs = _upstream(home, [("trained_classifier", str(n)), ("splits", str(n))])
    test = results["test"]
    return _finish(
        context,
        sec,
        "evaluation_report",
        str(n),
        written,
        {"splits": ["valid", "test"]},
        inputs,
        {
            "test_accuracy": round(test.get("accuracy", 0.0), 4),
            "test_mAP": round(test.get("mean_average_precision", 0.0), 4),
            "test_macro_f05": round(test.get("macro_f05", 0.0), 4),
            "test_examples": test.get("n", 0),
            "report_path": MetadataValue.path(str(report_dir / "report.md")),
            "report": MetadataValue.md(markdown),
        },
    )


@asset(
    deps=[AssetDep("clap_embeddings", partition_mapping=_ALL)],
    code_version=CODE_VERSIONS["zero_shot_baseline"],
    group_name="sec",
    description="Zero-shot baseline: every stored embedding classified by the CLAP text tower's "
    f"prompt '{zero_shot.PROMPT}' per class, no training; accuracy, mAP, per-class report. "
    "Skipped with an explicit notice when the text model is absent.",
)
def zero_shot_baseline(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    home = sec.home_path
    keys = _registered_classes(context)
    names = [_class_name(sec, k) for k in keys]
    torch.set_num_threads(sec.cpu_count())
    files = clap.resolve_model_files(sec.models_path, sec.allow_random_init)
    frames = [
        storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["model_sha256", "embedding"])
        for k in keys
    ]
    used = {h for f in frames for h in f["model_sha256"].unique().to_list()}
    notice, results = "", {}
    try:
        model = clap.load_clap(files, need_text=True, device=sec.embed_device)
        if used - {model.weights_sha256}:
            raise clap.ModelStoreError(
                f"stored embeddings were made with weights {sorted(used)}, the store now holds "
                f"{model.weights_sha256}: re-materialize clap_embeddings first"
            )
        audio = np.concatenate([np.asarray(f["embedding"].to_numpy(), dtype=np.float32) for f in frames])
        labels = np.concatenate([np.full(f.height, i) for i, f in enumerate(frames)])
        results = {"all": zero_shot.zero_shot(model, audio, labels, names)}
    except clap.TextModelUnavailable as exc:
        notice = f"zero-shot baseline SKIPPED: text model unavailable ({exc})"
        context.log.warning(notice)
    report_dir = home / "reports" / "zero_shot"
    title = f"Zero-shot baseline ({files.model_id}), prompt '{zero_shot.PROMPT}'"
    markdown = render_markdown(title, results, names) if results else f"# {title}\n\n{notice}\n"
    storage.atomic_write_bytes(report_dir / "report.md", markdown.encode())
    storage.atomic_write_bytes(
        report_dir / "report.json", json.dumps({"notice": notice, **results}, indent=2).encode()
    )
    res = results.get("all", {})
    row = {
        "scope": "all",
        "status": "skipped" if notice else "ok",
        "notice": notice,
        "prompt": zero_shot.PROMPT,
        "classes": len(keys),
        "n": res.get("n", 0),
        "accuracy": res.get("accuracy"),
        "macro_f05": res.get("macro_f05"),
        "mean_average_precision": res.get("mean_average_precision"),
        "model_sha256": file_sha256(files.weights),
        "random_init": files.random_init,
        "report_path": str(report_dir / "report.md"),
    }
    written = catalog.write_table_partition(
        home,
        "zero_shot_report",
        {"scope": "all"},
        pl.DataFrame([row], schema=catalog.TABLE_SCHEMAS["zero_shot_report"]),
    )
    inputs = _upstream(home, [("clap_embeddings", k) for k in keys])
    return _finish(
        context,
        sec,
        "zero_shot_baseline",
        "all",
        written,
        {"prompt": zero_shot.PROMPT, "model_sha256": row["model_sha256"]},
        inputs,
        {
            "status": row["status"],
            "notice": notice or "none",
            "accuracy": round(res.get("accuracy", 0.0), 4),
            "mAP": round(res.get("mean_average_precision", 0.0), 4),
            "segments": res.get("n", 0),
            "random_init": files.random_init,
            "report": MetadataValue.md(markdown),
        },
    )


ALL_ASSETS = [
    raw_manifest,
    augmented_segments,
    clap_embeddings,
    octave_spectrograms,
    splits_asset,
    trained_classifier,
    evaluation_report,
    zero_shot_baseline,
]
