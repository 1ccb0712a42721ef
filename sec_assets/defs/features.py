"""Features stage: CLAP embeddings per audio class, n-octave band levels per class × octave."""

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, asset

from sec_assets.core.audio import stored
from sec_assets.core.devices import resolve_device, use_threads
from sec_assets.core.features import clap, clap_store, embedding
from sec_assets.core.features.spectrogram import spectrogram_shard
from sec_assets.core.progress import Progress
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    BY_CLASS,
    FAILURE_COLUMNS,
    SEGMENT_SHARD,
    STEP_RETRY,
    Written,
    asset_boundary,
    each_partition,
    finish,
    md_table,
    requests,
    unchanged,
    upstream,
)
from sec_assets.partitions import (
    AUDIO_CLASS,
    CLASS_BACKFILL,
    OCTAVE,
    audio_class_partitions,
    class_octave_partitions,
)
from sec_assets.resources import SecResource

GROUP = "features"


@functools.lru_cache(maxsize=2)
def _loaded_clap(
    files: clap.ModelFiles, mtime_ns: int, size: int, device: str, precision: str
) -> clap.LoadedClap:
    """One loaded model per process (a range of partitions, or the demo's many runs); the file's
    mtime and size are part of the key, so replaced weights are loaded again."""
    return clap.load_clap(files, device=device, precision=precision)


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=CLASS_BACKFILL,
    deps=[AssetDep("augmented_segments")],
    code_version="2",
    group_name=GROUP,
    op_tags=requests(gpus=1),
    retry_policy=STEP_RETRY,
    description="1024-d CLAP 2023 audio embeddings (float32) of every segment: batched, prefetched, "
    "resumable (vectors already made with the same weights and recipe are reused, never "
    "duplicated); weights sha256, recipe and run in every row. Fails with the command to run when "
    "the model store is empty, unless allow_random_init (the demo) — then loudly flagged.",
    kinds={"torch", "parquet", "duckdb"},
)
@asset_boundary
def clap_embeddings(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return each_partition(context, lambda key: _clap_embeddings_one(context, sec, key))


def _clap_embeddings_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    emb = sec.settings.embeddings
    home = sec.home_path
    threads = use_threads(sec.cpu_count())
    files = clap_store.resolve_model_files(sec.models_path, emb.allow_random_init)
    if files.random_init:
        context.log.warning(
            "⚠ RANDOM-INIT CLAP: no real weights in the model store "
            f"({sec.models_path}); embeddings are NOT meaningful. Run `sec-assets models fetch`."
        )
    stat = files.weights.stat()
    model = _loaded_clap(files, stat.st_mtime_ns, stat.st_size, emb.embed_device, emb.embed_precision)
    forward_batch = emb.embed_batch_size
    if model.device != "cpu":
        forward_batch = emb.embed_gpu_batch_size or clap.gpu_batch_size(model.device)
    inputs = upstream(home, [("augmented_segments", key)])
    params = {
        "model_id": files.model_id,
        "model_sha256": model.weights_sha256,
        "random_init": files.random_init,
        "recipe": model.recipe,
    }
    dims = {AUDIO_CLASS: key}
    if (kept := unchanged(context, sec, Written(key, "clap_embeddings", dims, params, inputs))) is not None:
        return kept
    context.log.info(
        f"{key}: {files.model_id} on {model.device} ({model.precision}), forward batch {forward_batch}, "
        f"{threads} torch threads, {emb.embed_workers} prefetch workers"
    )

    line = Progress(f"{key}: embedded", _segment_count(home, key), "segments", context.log.info)

    def progress(stats: embedding.EmbedStats) -> None:
        line.update(stats.total, f"{stats.embedded} new, committed {stats.shards} shard(s)")

    written, stats = embedding.embed_stored_partition(
        home,
        {AUDIO_CLASS: key},
        key,
        model,
        context.run_id,
        batch_size=emb.embed_batch_size,
        workers=emb.embed_workers,
        forward_batch=forward_batch,
        commit_rows=emb.embed_commit_rows,
        progress=progress,
    )
    context.log.info(
        line.message(stats.total + len(stats.failures), f"{stats.embedded} new, {stats.reused} reused")
    )
    for f in stats.failures:
        context.log.warning(f"{key}: segment {f['segment_key']} left out: {f['reason']}")
    if stats.total == 0:
        context.log.warning(f"{key}: the class has no segments; wrote an empty partition")
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params=params,
        inputs=inputs,
        metadata={
            "model_id": files.model_id,
            "model_sha256": model.weights_sha256,
            "random_init": files.random_init,
            "warning": "RANDOM-INIT MODEL: embeddings are not meaningful" if files.random_init else "none",
            "recipe": model.recipe,
            "device": model.device,
            "segments": stats.total,
            "segments_failed": len(stats.failures),
            "failures": md_table(
                pl.DataFrame(stats.failures, schema=FAILURE_COLUMNS).select("segment_key", "reason")
            ),
            "embedded_now": stats.embedded,
            "reused": stats.reused,
            "clips_per_second": round(stats.clips_per_second, 2),
            "input_wait_fraction": round(stats.input_wait_seconds / stats.seconds, 3)
            if stats.seconds
            else 0.0,
            "forward_batch": forward_batch,
            "torch_threads": threads,
        },
    )


@asset(
    partitions_def=class_octave_partitions,
    backfill_policy=CLASS_BACKFILL,  # per octave: ceil(N/K) runs of K classes
    deps=[AssetDep("augmented_segments", partition_mapping=BY_CLASS)],
    code_version="2",
    group_name=GROUP,
    op_tags=requests(cpus=2),
    retry_policy=STEP_RETRY,
    description="Per segment, band levels in dB (re 20 µPa or dBFS) over 0.1-s frames for 1/n-octave "
    "bands (base-2 grid around 1 kHz, or IEC base 10), by the fast torch filterbank (CPU or CUDA).",
    kinds={"torch", "parquet", "duckdb"},
)
@asset_boundary
def octave_spectrograms(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    return each_partition(context, lambda partition: _octave_spectrograms_one(context, sec, partition))


def _octave_spectrograms_one(
    context: AssetExecutionContext, sec: SecResource, partition: str
) -> MaterializeResult:
    cfg = sec.settings
    spec = cfg.spectrograms
    keys = class_octave_partitions.get_partition_key_from_str(partition).keys_by_dimension
    key, n = keys[AUDIO_CLASS], int(keys[OCTAVE])
    home = sec.home_path
    params = cfg.level_params(n)
    bands = params.bands
    device = resolve_device(spec.spectrogram_device)
    if device == "cpu":
        use_threads(sec.cpu_count())
    dims = {AUDIO_CLASS: key, OCTAVE: str(n)}
    lineage_params = {
        **vars(params),
        "method": "fast_levels (frame route + exact decimated route)",
        "device": device,
    }
    inputs = upstream(home, [("augmented_segments", key)])
    what = Written(partition, "octave_spectrograms", dims, lineage_params, inputs)
    if (kept := unchanged(context, sec, what)) is not None:
        return kept
    counts = {"segments": 0, "n_frames": 0}
    failures: list[dict[str, str]] = []
    started = time.perf_counter()

    line = Progress(f"{key} 1/{n}: band levels of", _segment_count(home, key), "segments", context.log.info)

    def shards() -> Iterator[pl.DataFrame]:
        columns = ["segment_key", "source_sha256", "sample_rate", "audio"]
        for batch in stored.iter_segment_batches(home, key, SEGMENT_SHARD, columns):
            frame, failed = spectrogram_shard(batch, key, params, device, spec.spectrogram_batch_size)
            for f in failed:
                context.log.warning(f"{key} 1/{n}: segment {f['segment_key']} left out: {f['reason']}")
            failures.extend(failed)
            counts["segments"] += frame.height
            counts["n_frames"] = frame["n_frames"][0] if frame.height else counts["n_frames"]
            line.update(counts["segments"])
            yield frame

    written = catalog.write_table_partition(home, "octave_spectrograms", dims, shards())
    catalog.record_failures(home, asset="octave_spectrograms", partition_key=partition, rows=failures)
    elapsed = time.perf_counter() - started
    return finish(
        context,
        sec=sec,
        partition_key=partition,
        written=written,
        params=lineage_params,
        inputs=inputs,
        metadata={
            "octave": n,
            "segments": counts["segments"],
            "segments_failed": len(failures),
            "failures": md_table(
                pl.DataFrame(failures, schema=FAILURE_COLUMNS).select("segment_key", "reason")
            ),
            "bands": len(bands),
            "frames_per_segment": counts["n_frames"],
            "lowest_band_hz": round(float(bands.center[0]), 2),
            "highest_band_hz": round(float(bands.center[-1]), 2),
            "level_reference": spec.level_reference,
            "device": device,
            "segments_per_second": round(counts["segments"] / elapsed, 1) if elapsed > 0 else 0.0,
        },
    )


def _segment_count(home: Path, key: str) -> int | None:
    """Rows of a class's segments, from the Parquet footers (no data read)."""
    files = storage.partition_files(home, "augmented_segments", {AUDIO_CLASS: key})
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else None


ASSETS = [clap_embeddings, octave_spectrograms]
defs = Definitions(assets=ASSETS)
