"""Scan the landing folder: class folders → partition keys, class files → manifest rows.

Every file under a class folder gets a row. Corrupt, empty, truncated, non-audio, unreadable,
too short (below ``min_clip_seconds``) or — under the ``fail`` policies — non-finite or
over-full-scale files are recorded with ``status='failed'`` and a human-readable ``error`` instead of
stopping the partition: a few bad uploads must never block a class of thousands of good ones. A
usable file may carry a ``repair`` (what is done to its samples, see
:mod:`sec_assets.core.audio.samples`). A header that lies about the length is harmless: the
frames that decode are counted and used.

Ignored, with no row: hidden files and folders (names starting with ``.``), files whose extension
the format filter (``audio_formats``) leaves out, and folders, including folders whose names end
like audio files (their contents are scanned).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.audio.audio_io import AudioDecodeError, probe
from sec_assets.core.audio.keys import is_hidden, partition_keys_for
from sec_assets.core.audio.samples import Repair, SamplePolicy, SampleRejected
from sec_assets.core.audio.segments import SourceFile, long_enough
from sec_assets.core.hashing import file_sha256, stable_hex
from sec_assets.core.store.schemas import TABLE_SCHEMAS

TABLE_COLUMNS = ("table_row", "source_group", "fold", "clip_start_s", "clip_end_s", "offset_frames")


@dataclass(frozen=True)
class FilePolicy:
    """What makes a decodable file usable: its samples' policy and the shortest clip accepted."""

    samples: SamplePolicy = field(default_factory=SamplePolicy)
    min_clip_seconds: float = 0.1
    formats: tuple[str, ...] = ()  # file extensions (lower case, no dot) listed; empty: every file

    def lists(self, path: Path) -> bool:
        """Whether the format filter keeps this file (others get no manifest row at all)."""
        return not self.formats or path.suffix.lower().lstrip(".") in self.formats


def discover_classes(audio_root: Path) -> dict[str, str]:
    """Map partition key → class folder name for every visible sub-folder of the landing folder."""
    if not audio_root.is_dir():
        raise FileNotFoundError(
            f"landing folder {audio_root} does not exist: set SEC_AUDIO_ROOT or audio_root in "
            "configs/sec.yaml to a folder with one sub-folder per class"
        )
    names = [p.name for p in audio_root.iterdir() if p.is_dir() and not is_hidden(p.name)]
    return {key: name for name, key in partition_keys_for(names).items()}


def iter_class_files(class_dir: Path) -> Iterator[Path]:
    """All visible files below a class folder, recursively, in a stable order."""
    for root, dirs, files in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if not is_hidden(name):
                yield Path(root) / name


def listed_files(class_dir: Path, policy: FilePolicy | None = None) -> list[Path]:
    """The files of a class folder that get a manifest row: visible, recursive, kept by the
    format filter, in a stable order (the listing :func:`rescan_class` reads)."""
    return [p for p in iter_class_files(class_dir) if (policy or FilePolicy()).lists(p)]


@dataclass(frozen=True)
class ManifestEntry:
    """One source the manifest grades: a file of a class folder, or a dataset table's row (with
    its row number, group, fold and, for a clip inside a longer file, the clip's bounds)."""

    path: Path
    relative_path: str
    table_row: int | None = None
    group: str | None = None
    fold: int | None = None
    clip_start_s: float | None = None
    clip_end_s: float | None = None

    @property
    def key(self) -> str:
        """The entry's identity within a class: its path, and its bounds for a clip."""
        if self.clip_start_s is None:
            return self.relative_path
        return f"{self.relative_path}@{self.clip_start_s!r}-{self.clip_end_s!r}"

    def table_fields(self) -> dict[str, Any]:
        return {
            "table_row": self.table_row,
            "source_group": self.group,
            "fold": self.fold,
            "clip_start_s": self.clip_start_s,
            "clip_end_s": self.clip_end_s,
        }


def clip_id(file_sha256: str, start: int, end: int) -> str:
    """The identity of a clip inside a file (its frames ``[start, end)``): it stands for the file's
    content hash wherever a source is keyed (splits, segment keys, seeds)."""
    return stable_hex("clip", file_sha256, start, end, size=32)


def manifest_row(
    path: Path, class_dir: Path, audio_class: str, partition_key: str, policy: FilePolicy | None = None
) -> dict[str, Any]:
    """One manifest row of a file under ``class_dir``; never raises for a bad file, it records why."""
    return entry_row(
        ManifestEntry(path, str(path.relative_to(class_dir))), audio_class, partition_key, policy
    )


def entry_row(
    entry: ManifestEntry, audio_class: str, partition_key: str, policy: FilePolicy | None = None
) -> dict[str, Any]:
    """One manifest row; never raises for a bad file, it records why instead. A clip's ``frames``,
    ``duration_s`` and ``sha256`` are the clip's (its identity: :func:`clip_id`); its
    ``offset_frames`` is where it starts in the file. An end beyond the file's end is cut there."""
    policy = policy or FilePolicy()
    path = entry.path
    row: dict[str, Any] = {
        "audio_class": audio_class,
        "partition_key": partition_key,
        "path": str(path),
        "relative_path": entry.relative_path,
        "format": None,
        "sample_rate": None,
        "channels": None,
        "frames": None,
        "duration_s": None,
        "sha256": None,
        "size_bytes": None,
        "non_finite": None,
        "peak": None,
        "repair": None,
        "repair_zero": False,
        "repair_scale": 1.0,
        "repair_clip": False,
        "status": "failed",
        "error": None,
        **entry.table_fields(),
        "offset_frames": None,
    }
    if path.is_symlink() and not path.exists():
        row["error"] = f"broken symbolic link (to {os.readlink(path)})"
        return row
    if not path.exists():
        where = f" (table row {entry.table_row})" if entry.table_row is not None else ""
        row["error"] = f"missing: no file at {path}{where}"
        return row
    try:
        row["size_bytes"] = path.stat().st_size
        row["sha256"] = file_sha256(path)
        info = probe(path)
    except AudioDecodeError as exc:
        row["error"] = str(exc)
        return row
    except OSError as exc:
        row["error"] = f"unreadable: {exc.strerror or exc}"
        return row
    row.update(
        format=info.format,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
        duration_s=info.duration_s,
        non_finite=info.scan.non_finite,
        peak=info.scan.peak,
    )
    if entry.clip_start_s is not None and entry.clip_end_s is not None:
        start = round(entry.clip_start_s * info.sample_rate)
        end = min(round(entry.clip_end_s * info.sample_rate), info.frames)
        if start >= info.frames:
            row["error"] = (
                f"the clip starts at {entry.clip_start_s:g} s, at or after the end of the file "
                f"({info.duration_s:.3f} s)"
            )
            return row
        row.update(
            sha256=clip_id(row["sha256"], start, end),
            frames=end - start,
            duration_s=(end - start) / info.sample_rate,
            offset_frames=start,
        )
    if not long_enough(row["frames"], info.sample_rate, policy.min_clip_seconds):
        row["error"] = (
            f"too short: {row['duration_s']:.4f} s of audio, below min_clip_seconds = "
            f"{policy.min_clip_seconds:g} s"
        )
        return row
    try:
        repair = policy.samples.decide(info.scan, info.sample_rate)
    except SampleRejected as exc:
        row["error"] = str(exc)
        return row
    row.update(
        repair=repair.note,
        repair_zero=repair.zero_non_finite,
        repair_scale=repair.scale,
        repair_clip=repair.clip,
        status="ok",
    )
    return row


def source_files(manifest: pl.DataFrame) -> tuple[list[SourceFile], int]:
    """The usable files of a class manifest, one per content hash, sorted by hash (the segmenter's
    input), and how many duplicates were dropped."""
    manifest = with_table_columns(manifest)
    missing = sorted(set(TABLE_SCHEMAS["raw_manifest"]) - set(manifest.columns))
    if missing:
        raise ValueError(
            f"this raw_manifest partition was written by an older version (no {', '.join(missing)}): "
            "re-materialize raw_manifest for the class"
        )
    ok = manifest.filter(pl.col("status") == "ok")
    unique = ok.unique("sha256", keep="first", maintain_order=True).sort("sha256")
    sources = [
        SourceFile(
            Path(r["path"]),
            r["sha256"],
            r["sample_rate"],
            r["frames"],
            Repair(r["repair_zero"], r["repair_scale"], r["repair_clip"], r["repair"]),
            r["offset_frames"],
        )
        for r in unique.iter_rows(named=True)
    ]
    return sources, ok.height - unique.height


def with_table_columns(manifest: pl.DataFrame) -> pl.DataFrame:
    """A manifest written before dataset tables (December 2026) gets their columns, empty."""
    schema = TABLE_SCHEMAS["raw_manifest"]
    absent = [c for c in TABLE_COLUMNS if c not in manifest.columns]
    return (
        manifest.with_columns(pl.lit(None, dtype=schema[c]).alias(c) for c in absent) if absent else manifest
    )


def scan_class(
    class_dir: Path,
    audio_class: str,
    partition_key: str,
    progress: Callable[[int, int], None] | None = None,
    policy: FilePolicy | None = None,
) -> pl.DataFrame:
    """The manifest of one class folder (rows for good and failed files alike);
    ``progress(done, total)`` after each file."""
    return rescan_class(class_dir, audio_class, partition_key, None, {}, progress, policy).manifest


FileStat = tuple[int, int]  # (size, mtime_ns) when the file was last read


@dataclass
class Rescan:
    manifest: pl.DataFrame
    stats: dict[str, FileStat]  # relative path → its stat before it was read (the next cache)
    reused: int  # rows taken from the previous manifest: the file's size and mtime had not moved


def rescan_class(
    class_dir: Path,
    audio_class: str,
    partition_key: str,
    previous: pl.DataFrame | None,
    stats: Mapping[str, FileStat],
    progress: Callable[[int, int], None] | None = None,
    policy: FilePolicy | None = None,
) -> Rescan:
    """The manifest of one class folder, reading only files that may have changed (see
    :func:`rescan_entries`)."""
    entries = [ManifestEntry(p, str(p.relative_to(class_dir))) for p in listed_files(class_dir, policy)]
    return rescan_entries(entries, audio_class, partition_key, previous, stats, progress, policy)


def rescan_entries(
    entries: list[ManifestEntry],
    audio_class: str,
    partition_key: str,
    previous: pl.DataFrame | None,
    stats: Mapping[str, FileStat],
    progress: Callable[[int, int], None] | None = None,
    policy: FilePolicy | None = None,
) -> Rescan:
    """The manifest of one class's entries (folder files or table rows), reading only files that
    may have changed.

    A file whose size and mtime equal those in ``stats`` (the cache of the run that wrote
    ``previous``, made with the same policy) keeps its row of ``previous``: it is not decoded or
    hashed again (git's index trick); a table row's own fields (row number, group, fold) are taken
    from the entry, so editing them in the table needs no decoding either. Any other file — new,
    touched, rewritten — is read and hashed; a touched file with unchanged bytes gets back the
    same row, so the manifest is the same and nothing downstream is recomputed. Each stat is
    taken before the file is read, so a file that changes while it is read is read again next time.
    """
    rows = []
    old: dict[str, dict[str, Any]] = {}
    if previous is not None:
        for r in with_table_columns(previous).iter_rows(named=True):
            old[_row_key(r)] = r
    new_stats: dict[str, FileStat] = {}
    reused = 0
    for i, entry in enumerate(entries):
        rel = entry.relative_path
        try:
            st = entry.path.stat()
            new_stats[rel] = (st.st_size, st.st_mtime_ns)
        except OSError:  # gone, or a broken link: entry_row records why
            st = None
        if st is not None and entry.key in old and stats.get(rel) == new_stats[rel]:
            rows.append({**old[entry.key], **entry.table_fields()})
            reused += 1
        else:
            rows.append(entry_row(entry, audio_class, partition_key, policy))
        if progress:
            progress(i + 1, len(entries))
    return Rescan(pl.DataFrame(rows, schema=TABLE_SCHEMAS["raw_manifest"]), new_stats, reused)


def _row_key(row: Mapping[str, Any]) -> str:
    bounds = (row["clip_start_s"], row["clip_end_s"])
    entry = ManifestEntry(
        Path(row["path"]), row["relative_path"], clip_start_s=bounds[0], clip_end_s=bounds[1]
    )
    return entry.key
