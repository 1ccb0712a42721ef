"""Batched, prefetched, resumable CLAP embedding of stored segments.

**Prefetch.** Reading a batch of stored segments, decoding float16 → float32, resampling and
cutting 7-s windows (:func:`sec_assets.core.features.clap.prepare_clip`) run in background threads
(numpy, soxr and Parquet release the GIL), ``prefetch`` batches ahead and in input order, so
the model does not wait for I/O; the time it did wait is reported (``input_wait_seconds``).

**Resume.** New vectors are committed as they are made: every ``commit_rows`` new rows, or
``commit_seconds`` of work, whichever comes first, become one shard file in a per-partition
resume directory (temp file + atomic rename). A run that is killed leaves its committed shards
there; the next run reuses every vector whose *resume key* — segment key, hash of the
segment's stored audio, model weights sha256 and recipe (preprocessing, device kind,
precision) — it finds in those shards or in the partition written before, and embeds only the
rest. The finished partition is written in one atomic swap with exactly one row per current
segment, sorted by segment key in fixed-size parts, so the bytes on disk do not depend on batch
size, workers or how many times the run was interrupted; then the resume directory is removed.
A segment whose audio changed (new augmentation parameters, new source file) has a new audio
hash and is embedded again.

**Bad segments.** A segment that cannot be prepared (e.g. non-finite samples stored by an older
version) or whose vector comes out non-finite is left out and reported with its key and reason
(``EmbedStats.failures``, the catalog's ``failures`` view); the rest of the class is written.

Memory: the vectors of one class are held once for the final sort (4 KiB per segment: 400 MiB
for 100 000 segments of one class); audio is held only for the batches in flight.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from sec_assets.core.audio import stored
from sec_assets.core.audio.segments import decode_audio
from sec_assets.core.features import clap
from sec_assets.core.prefetch import prefetched
from sec_assets.core.store import catalog, schemas, storage
from sec_assets.core.store.storage import atomic_write_bytes

RESUME_KEY = ["segment_key", "segment_hash", "model_sha256", "recipe"]
PART_ROWS = 4096  # rows per Parquet part of the finished partition (fixed: layout is deterministic)


def segment_hash(audio: bytes, sample_rate: int) -> str:
    """Identity of a segment's stored audio: what the vector was computed from (blake2b)."""
    h = hashlib.blake2b(sample_rate.to_bytes(8, "little"), digest_size=16)
    h.update(audio)
    return h.hexdigest()


@dataclass
class EmbedStats:
    total: int = 0  # segments in the partition now
    embedded: int = 0  # vectors computed by this run
    reused: int = 0  # vectors taken from committed shards or the previous partition
    shards: int = 0  # shards committed by this run
    model_seconds: float = 0.0  # time spent in the model
    input_wait_seconds: float = 0.0  # time the model waited for prefetched input
    seconds: float = 0.0  # wall time of the whole run
    failures: list[dict[str, str]] = field(default_factory=list)  # segment_key, source_sha256, reason

    @property
    def clips_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Prepared:
    """One input batch, hashed and (for segments still to embed) cut into model windows."""

    rows: pl.DataFrame  # segment_key, source_sha256, segment_hash
    todo: list[int]  # row indices still to embed
    windows: list[np.ndarray] = field(default_factory=list)  # per todo row: (k, 308700)
    failed: list[tuple[int, str]] = field(default_factory=list)  # row index, reason


class ResumeShards:
    """Committed vectors of an unfinished partition: one Parquet file per commit."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("shard-*.parquet")) if self.directory.is_dir() else []

    def commit(self, frame: pl.DataFrame) -> Path:
        path = self.directory / f"shard-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="zstd")
        atomic_write_bytes(path, buf.getvalue())
        return path

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _committed(files: Iterable[Path], model_sha256: str, recipe: str) -> pl.DataFrame | None:
    """Rows of earlier work that match this model and recipe (files of another schema are skipped)."""
    frames = []
    for path in files:
        try:
            frame = pl.read_parquet(path)
        except Exception:  # a damaged file is ignored: its segments are simply embedded again
            continue
        if not set(RESUME_KEY) <= set(frame.columns):
            continue
        frames.append(frame.filter((pl.col("model_sha256") == model_sha256) & (pl.col("recipe") == recipe)))
    if not frames:
        return None
    return pl.concat(frames, how="diagonal_relaxed").unique(
        subset=["segment_key", "segment_hash"], keep="first"
    )


def embed_segments(
    model: clap.LoadedClap,
    batches: Iterable[pl.DataFrame],
    previous: Iterable[Path],
    shards: ResumeShards,
    run_id: str,
    partition_key: str,
    commit_rows: int = 1024,
    commit_seconds: float = 30.0,
    forward_batch: int = 8,
    workers: int = 2,
    prefetch: int = 4,
    progress: Callable[[EmbedStats], None] | None = None,
) -> tuple[pl.DataFrame, EmbedStats]:
    """Embed every segment of ``batches`` (columns segment_key, source_sha256, sample_rate,
    audio), reusing committed vectors; return all rows sorted by segment key, and the figures.

    ``previous`` are the Parquet files of the partition as last written; new vectors are
    committed to ``shards`` every ``commit_rows`` rows. The caller writes the returned frame as
    the partition and then calls ``shards.clear()``.
    """
    started = time.perf_counter()
    recipe = model.recipe
    done = _committed([*previous, *shards.files()], model.weights_sha256, recipe)
    known = (
        set(zip(done["segment_key"].to_list(), done["segment_hash"].to_list(), strict=True))
        if done is not None
        else set()
    )
    stats = EmbedStats()
    constant = {
        "partition_key": partition_key,
        "model_id": model.files.model_id,
        "model_sha256": model.weights_sha256,
        "random_init": model.files.random_init,
        "recipe": recipe,
        "run_id": run_id,
    }

    def prepare(batch: pl.DataFrame) -> _Prepared:
        hashes = [segment_hash(a, r) for a, r in zip(batch["audio"], batch["sample_rate"], strict=True)]
        rows = batch.select("segment_key", "source_sha256").with_columns(
            pl.Series("segment_hash", hashes, dtype=pl.String)
        )
        keys = rows["segment_key"].to_list()
        todo, windows, failed = [], [], []
        for i, pair in enumerate(zip(keys, hashes, strict=True)):
            if pair in known:
                continue
            try:
                windows.append(clap.prepare_clip(decode_audio(batch["audio"][i]), batch["sample_rate"][i]))
                todo.append(i)
            except ValueError as exc:  # this segment only; a stop request is not an Exception
                failed.append((i, f"cannot prepare for CLAP: {exc}"))
        return _Prepared(rows=rows, todo=todo, windows=windows, failed=failed)

    current: list[pl.DataFrame] = []  # (segment_key, segment_hash) of every segment now
    new_rows: list[pl.DataFrame] = []  # this run's vectors not yet committed
    pending = 0
    wait_from = last_commit = time.perf_counter()
    for item in prefetched(batches, prepare, workers, prefetch):
        stats.input_wait_seconds += time.perf_counter() - wait_from
        failed = dict(item.failed)
        todo = item.todo
        vectors = np.zeros((0, clap.EMBEDDING_DIM), dtype=np.float32)
        if todo:
            t0 = time.perf_counter()
            vectors = _embed_windows(model, item.windows, forward_batch)
            stats.model_seconds += time.perf_counter() - t0
            finite = np.isfinite(vectors).all(axis=1)
            failed.update(
                {i: "the model's vector is not finite" for i, ok in zip(todo, finite, strict=True) if not ok}
            )
            vectors, todo = vectors[finite], [i for i, ok in zip(todo, finite, strict=True) if ok]
        for i, reason in sorted(failed.items()):
            row = item.rows.row(i, named=True)
            stats.failures.append(
                {"segment_key": row["segment_key"], "source_sha256": row["source_sha256"], "reason": reason}
            )
        kept = item.rows.filter(~pl.int_range(pl.len()).is_in(list(failed))) if failed else item.rows
        current.append(kept.select("segment_key", "segment_hash"))
        stats.total += kept.height
        if todo:
            new = item.rows[todo].with_columns(
                *(pl.lit(v).alias(k) for k, v in constant.items()),
                pl.Series("embedding", vectors, dtype=pl.Array(pl.Float32, clap.EMBEDDING_DIM)),
            )
            new_rows.append(new)
            pending += new.height
            stats.embedded += new.height
        if pending and (pending >= commit_rows or time.perf_counter() - last_commit >= commit_seconds):
            shards.commit(pl.concat(new_rows))
            stats.shards += 1
            new_rows, pending, last_commit = [], 0, time.perf_counter()
            if progress:
                progress(stats)
        wait_from = time.perf_counter()
    if new_rows:
        shards.commit(pl.concat(new_rows))
        stats.shards += 1
    wanted = (
        pl.concat(current)
        if current
        else pl.DataFrame(schema={"segment_key": pl.String, "segment_hash": pl.String})
    )
    available = _committed([*previous, *shards.files()], model.weights_sha256, recipe)
    if available is None:  # nothing embedded, ever (an empty class): a zero-row partition
        available = pl.DataFrame(schema=schemas.TABLE_SCHEMAS["clap_embeddings"])
    final = available.join(wanted, on=["segment_key", "segment_hash"], how="semi").sort("segment_key")
    stats.reused = final.height - stats.embedded
    if final.height != stats.total:  # cannot happen by construction; checked because loss is silent
        raise RuntimeError(f"{partition_key}: {stats.total} segments but {final.height} vectors")
    stats.seconds = time.perf_counter() - started
    return final, stats


def _embed_windows(model: clap.LoadedClap, windows: list[np.ndarray], forward_batch: int) -> np.ndarray:
    """One vector per segment: the mean over its 7-s windows (one window for ≤ 7-s segments)."""
    flat = np.concatenate(windows)
    vectors = np.concatenate(
        [model.embed(flat[i : i + forward_batch]) for i in range(0, flat.shape[0], forward_batch)]
    )
    counts = [w.shape[0] for w in windows]
    if all(c == 1 for c in counts):
        return vectors
    bounds = np.cumsum([0, *counts])
    return np.stack([vectors[a:b].mean(axis=0) for a, b in itertools.pairwise(bounds)])


def part_frames(frame: pl.DataFrame, rows: int = PART_ROWS) -> Iterator[pl.DataFrame]:
    """The finished partition in fixed-size parts (at least one, possibly empty)."""
    if frame.height == 0:
        yield frame
    for offset in range(0, frame.height, rows):
        yield frame.slice(offset, rows)


def resume_shards(home: Path, dims: Mapping[str, str]) -> ResumeShards:
    """The resume directory of one ``clap_embeddings`` partition (scratch space under SEC_HOME)."""
    relative = storage.partition_dir(home, "clap_embeddings", dims).relative_to(storage.data_root(home))
    return ResumeShards(storage.scratch_dir(home) / "resume" / relative)


def embed_stored_partition(
    home: Path,
    dims: Mapping[str, str],
    partition_key: str,
    model: clap.LoadedClap,
    run_id: str,
    batch_size: int = 16,
    workers: int = 2,
    forward_batch: int = 8,
    commit_rows: int = 1024,
    progress: Callable[[EmbedStats], None] | None = None,
) -> tuple[tuple[Path, str, int], EmbedStats]:
    """The whole ``clap_embeddings`` step without Dagster: stored segments → committed vectors →
    the finished partition (atomic swap) → resume directory removed."""
    shards = resume_shards(home, dims)
    columns = ["segment_key", "source_sha256", "sample_rate", "audio"]
    final, stats = embed_segments(
        model,
        stored.iter_segment_batches(home, partition_key, batch_size, columns),
        storage.partition_files(home, "clap_embeddings", dims),
        shards,
        run_id,
        partition_key,
        commit_rows=commit_rows,
        forward_batch=forward_batch,
        workers=workers,
        progress=progress,
    )
    written = catalog.write_table_partition(home, "clap_embeddings", dims, part_frames(final))
    catalog.record_failures(home, asset="clap_embeddings", partition_key=partition_key, rows=stats.failures)
    shards.clear()
    return written, stats
