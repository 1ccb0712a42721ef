"""One labelling pass over the inbox: the body of the ``inbox_predictions`` asset, without Dagster.

Which recordings to label (new, changed, or labelled by other champions; in the settled folders
when the sensor asked for some), labelled through the training code path
(:func:`sec_assets.core.inference.label.label_recordings`), written per recording — result CSV
and Raven selection tables under ``predictions/``, its ``inbox_predictions`` partition, then its
done marker (:mod:`.inbox`) — and, at the end, the labels of content no longer in the inbox
dropped and the combined table written. The asset wires it to the registry, the run config and
the lineage row.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams, SourceFile
from sec_assets.core.inference import inbox
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion, label_recordings
from sec_assets.core.inference.tables import raven_table, result_csv
from sec_assets.core.inference.windows import WindowParams, grade
from sec_assets.core.progress import Progress
from sec_assets.core.store import catalog, storage
from sec_assets.core.store.schemas import TABLE_SCHEMAS

TABLE = "inbox_predictions"
PARTITION = "recording"  # the table is partitioned by content hash, not by class
OUT = "predictions"  # under home: result files, the combined table and the done markers (.done/)
COUNTS = ("recordings", "labelled", "skipped_done", "duplicates", "failed", "waiting", "windows", "removed")


def run_key(
    champions: Sequence[Champion], window: WindowParams, top_k: int, min_confidence: float, rate: int
) -> str:
    """What makes a recording's labels current: the champions, the window / top-k settings and the
    table's columns (a partition written before a column was added is labelled again)."""
    return inbox.run_key(
        {
            "models": [(c.name, c.version) for c in champions],
            "window": [window.window_seconds, window.hop_seconds, window.min_window_seconds],
            "top_k": top_k,
            "min_confidence": min_confidence,
            "rate": rate,
            "columns": list(TABLE_SCHEMAS[TABLE]),
        }
    )


@dataclass(frozen=True)
class InboxJob:
    """Everything one pass needs; ``chosen`` None labels the whole inbox, else only these folders."""

    home: Path
    folder: Path
    champions: Sequence[Champion]
    featurizer: Featurizer
    names: Mapping[str, str]
    params: SegmentParams
    key: str
    top_k: int
    min_confidence: float
    batch: int
    policy: FilePolicy
    chosen: set[Path] | None = None

    @property
    def out(self) -> Path:
        return self.home / OUT


@dataclass
class InboxResult:
    counts: dict[str, int]
    failures: list[dict[str, Any]]
    combined: pl.DataFrame
    combined_path: Path
    audio_seconds: float
    seconds: float
    present: dict[str, str] = field(default_factory=dict)  # sha256 → path of the labelled recordings

    @property
    def real_time_factor(self) -> float:
        return (
            round(self.audio_seconds / self.seconds, 1) if self.counts["labelled"] and self.seconds else 0.0
        )


def label_inbox(job: InboxJob, info: Callable[[str], None], warn: Callable[[str], None]) -> InboxResult:
    """Label what the inbox needs labelled; progress lines to ``info``, each failed file to ``warn``."""
    out = job.out
    paths = list(inbox.recordings(job.folder))
    known = inbox.known(out)
    by_path: dict[str, list[str]] = {}
    for (p, _, _), hit in known.items():
        by_path.setdefault(p, []).append(hit.sha256)
    counts = dict.fromkeys(COUNTS, 0) | {"recordings": len(paths)}
    failures: list[dict[str, Any]] = []
    present: dict[str, str] = {}  # sha256 → path of the inbox's recordings with labels
    stats: dict[str, tuple[int, int]] = {}  # sha256 → (size, mtime_ns) when hashed
    audio_s: dict[str, float] = {}

    def todo() -> Iterator[SourceFile]:
        """Recordings to label, graded on the pipeline's producer thread."""
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            hit = known.get((str(path), st.st_size, st.st_mtime_ns))
            wanted = job.chosen is None or path.parent in job.chosen
            if hit is not None and (hit.run_key == job.key or not wanted):
                present.setdefault(hit.sha256, str(path))
                counts["skipped_done"] += 1
                continue
            if not wanted:  # in a folder not settled: its labels so far are kept
                counts["waiting"] += 1
                present.update({sha: str(path) for sha in by_path.get(str(path), [])})
                continue
            source, row = grade(path, job.folder, job.policy)
            if source is None:
                counts["failed"] += 1
                failures.append(
                    {
                        "source_sha256": row["sha256"],
                        "segment_key": None,
                        "path": str(path),
                        "reason": row["error"],
                    }
                )
                continue
            if source.sha256 in present or source.sha256 in stats:
                counts["duplicates"] += 1  # the same content at another path: labelled once
                continue
            stats[source.sha256] = (st.st_size, st.st_mtime_ns)
            audio_s[source.sha256] = row["duration_s"] or 0.0
            if inbox.is_done(out, source.sha256, job.key):  # touched, not changed: remember the new stat
                _mark(out, source.sha256, job.key, path, stats[source.sha256], None)
                present[source.sha256] = str(path)
                counts["skipped_done"] += 1
                continue
            yield source

    started = time.perf_counter()
    line = Progress("inbox:", len(paths), "recordings", info)
    labelled_s = 0.0
    for done in label_recordings(
        todo(),
        job.params,
        job.featurizer,
        job.champions,
        job.names,
        job.top_k,
        job.min_confidence,
        batch=job.batch,
    ):
        source, path = done.source, Path(done.source.path)
        _write_result_files(out, path.relative_to(job.folder), done.rows, job.champions, job.params)
        catalog.write_table_partition(job.home, TABLE, {PARTITION: source.sha256}, done.rows)
        _mark(out, source.sha256, job.key, path, stats[source.sha256], done.windows)
        present[source.sha256] = str(path)
        failures += [{**f, "path": str(path)} for f in done.failures]
        counts["labelled"] += 1
        counts["windows"] += done.windows
        labelled_s += audio_s[source.sha256]
        line.update(_handled(counts), _note(counts, labelled_s))
    for failure in failures:
        warn(f"{failure['path']}: {failure['reason']}")
    counts["removed"] = _prune(job.home, out, present)
    catalog.record_failures(job.home, asset=TABLE, partition_key="all", rows=failures)
    combined = _combined(job.home, present)
    buf = io.BytesIO()
    combined.write_parquet(buf)
    storage.atomic_write_bytes(out / "combined.parquet", buf.getvalue())
    storage.atomic_write_bytes(out / "combined.csv", combined.write_csv(float_precision=4).encode())
    info(line.message(_handled(counts), _note(counts, labelled_s)))
    return InboxResult(
        counts,
        failures,
        combined,
        out / "combined.parquet",
        labelled_s,
        time.perf_counter() - started,
        present,
    )


def _write_result_files(
    out: Path, rel: Path, rows: pl.DataFrame, champions: Sequence[Champion], params: SegmentParams
) -> None:
    """Per champion: the recording's result CSV and Raven selection table beside its inbox path."""
    for champion in champions:
        part = rows.filter(pl.col("octave") == champion.octave)
        stem = out / rel.parent / f"{rel.name}.oct{champion.octave}"
        storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".csv"), result_csv(part).encode())
        raven = raven_table(part, 0.0, params.sample_rate / 2)
        storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".selection.table.txt"), raven.encode())


def _handled(counts: dict[str, int]) -> int:
    return sum(counts[k] for k in ("labelled", "skipped_done", "failed", "duplicates", "waiting"))


def _note(counts: dict[str, int], audio_s: float) -> str:
    return (
        f"{counts['labelled']} labelled ({counts['windows']} windows, {audio_s / 3600:.2f} h of audio), "
        f"{counts['skipped_done']} already done, {counts['failed']} failed"
    )


def _mark(out: Path, sha: str, key: str, path: Path, stat: tuple[int, int], windows: int | None) -> None:
    record: dict[str, Any] = {"path": str(path), "size": stat[0], "mtime_ns": stat[1]}
    if windows is None:  # a marker kept: keep its window count
        with contextlib.suppress(OSError, ValueError):
            windows = json.loads(inbox.marker(out, sha).read_text()).get("windows")
    inbox.mark_done(out, sha, key, {**record, "windows": windows})


def _prune(home: Path, out: Path, present: dict[str, str]) -> int:
    """Drop the labels of content no longer in the inbox (a file removed or replaced)."""
    removed = 0
    for sha in inbox.done_shas(out):
        if sha not in present:
            storage.remove_partition(home, TABLE, {PARTITION: sha})
            inbox.unmark(out, sha)
            removed += 1
    return removed


def _combined(home: Path, present: dict[str, str]) -> pl.DataFrame:
    """Every labelled recording of the inbox, in path order."""
    order = sorted(present, key=lambda sha: (present[sha], sha))
    frames = [storage.read_partition(home, TABLE, {PARTITION: s}) for s in order]
    schema = TABLE_SCHEMAS[TABLE]
    return pl.concat(frames).cast(schema) if frames else pl.DataFrame(schema=schema)  # type: ignore[arg-type]
