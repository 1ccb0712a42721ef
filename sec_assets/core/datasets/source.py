"""Where a dataset's classes and files come from, and the protocol that goes with them.

Two layouts, one interface (:class:`DatasetSpec`, built by ``Settings.dataset()``):

- **class folders** (the default): every visible sub-folder of ``audio_root`` is a class, every
  file below it a source; a ``group_pattern`` may name each file's source group from its path.
- **a dataset table** (``dataset_table``): each row is a clip — a path under ``audio_root``, a
  label, optionally a group, an official fold and clip bounds (:mod:`.table`); the labels are the
  classes, so the folder layout under ``audio_root`` does not matter (ESC-50 keeps every clip in
  one ``audio/`` folder).

Either way a class name maps to the same safe partition key
(:func:`sec_assets.core.audio.keys.partition_keys_for`). Reading a table for its classes does not
open the audio files (the raw manifest grades each file of a class when it runs); the read is
cached per (table file, size, mtime), so the steps of one process read a 10,000-row table once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from sec_assets.core.audio.keys import partition_keys_for
from sec_assets.core.audio.manifest import FilePolicy, ManifestEntry, discover_classes, listed_files
from sec_assets.core.datasets.groups import compile_group_pattern, fill_groups, group_of
from sec_assets.core.datasets.table import (
    DatasetColumns,
    DatasetTable,
    DatasetTableError,
    read_dataset_table,
    rows_hash_by_label,
)


@dataclass(frozen=True)
class DatasetSpec:
    """The dataset's layout (folders or a table) and protocol (groups, folds)."""

    audio_root: Path
    table: Path | None = None
    columns: DatasetColumns = field(default_factory=lambda: DatasetColumns(path="path", label="label"))
    group_pattern: str | None = None
    test_fold: int | None = None
    valid_fold: int | None = None

    @property
    def from_table(self) -> bool:
        return self.table is not None

    @property
    def follows_folds(self) -> bool:
        return self.test_fold is not None

    def pattern(self) -> re.Pattern[str] | None:
        return compile_group_pattern(self.group_pattern) if self.group_pattern else None

    def read_table(self) -> DatasetTable:
        """The table's rows with groups filled from ``group_pattern`` where the table gives none
        (no audio file opened; cached per table file state). Raises :class:`DatasetTableError`."""
        if self.table is None:
            raise ValueError("no dataset_table is set: the classes are the folders under audio_root")
        try:
            st = self.table.stat()
        except OSError as exc:
            raise DatasetTableError(
                f"{self.table}: the dataset table cannot be read ({exc.strerror})"
            ) from exc
        return self._read(st.st_size, st.st_mtime_ns).table

    def classes(self) -> dict[str, str]:
        """Partition key → class name: the table's labels, or the class folders."""
        if self.table is None:
            return discover_classes(self.audio_root)
        labels = self.read_table().rows["label"].unique().to_list()
        return {key: name for name, key in partition_keys_for(labels).items()}

    def class_rows(self, name: str) -> pl.DataFrame:
        """The table rows of one class (by row number)."""
        return self.read_table().rows.filter(pl.col("label") == name).sort("row")

    def rows_hash(self, name: str) -> str | None:
        """A stable hash of one class's table rows (None for folder data): the table's part of the
        class's lineage, so editing one row re-runs exactly the classes it touches."""
        if self.table is None:
            return None
        st = self.table.stat()
        return self._read(st.st_size, st.st_mtime_ns).hashes.get(name)

    def _read(self, size: int, mtime_ns: int) -> _Read:
        assert self.table is not None
        return _read_cached(self.table, size, mtime_ns, self.columns, self.audio_root, self.group_pattern)

    def entries(self, name: str, policy: FilePolicy | None = None) -> list[ManifestEntry]:
        """One class's sources as manifest entries: its table rows (absolute paths under
        ``audio_root``), or the files of its folder that the format filter lists, each with its
        ``group_pattern`` group."""
        if self.table is None:
            class_dir = self.audio_root / name
            return [
                ManifestEntry(p, str(p.relative_to(class_dir)), group=self.group_of_path(p))
                for p in listed_files(class_dir, policy)
            ]
        return [
            ManifestEntry(
                path=self.audio_root / r["path"],
                relative_path=r["path"],
                table_row=r["row"],
                group=r["group"],
                fold=r["fold"],
                clip_start_s=r["start_s"],
                clip_end_s=r["end_s"],
            )
            for r in self.class_rows(name).iter_rows(named=True)
        ]

    def group_of_path(self, path: Path) -> str | None:
        """A folder file's group from ``group_pattern`` over its path relative to ``audio_root``."""
        compiled = self.pattern()
        if compiled is None:
            return None
        try:
            rel = path.relative_to(self.audio_root).as_posix()
        except ValueError:
            rel = path.as_posix()
        return group_of(rel, compiled)

    def protocol(self) -> dict[str, object]:
        """The protocol's settings, for lineage and reports."""
        return {
            "layout": "table" if self.table is not None else "class folders",
            "dataset_table": str(self.table) if self.table is not None else None,
            "dataset_columns": self.columns.mapped() if self.table is not None else None,
            "group_pattern": self.group_pattern,
            "test_fold": self.test_fold,
            "valid_fold": self.valid_fold,
        }


def protocol_line(dataset: DatasetSpec, groups: int) -> str:
    """How the splits were made, in words, given how many source groups they hold (the splits'
    metadata and the evaluation report's header)."""
    if dataset.follows_folds:
        valid = (
            f"validation fold {dataset.valid_fold}"
            if dataset.valid_fold is not None
            else "validation and early stopping carved from the training folds by group"
        )
        return f"official folds: test fold {dataset.test_fold}, {valid}" + (
            f"; {groups} source groups" if groups else ""
        )
    if groups:
        what = (
            dataset.columns.group if dataset.table is not None and dataset.columns.group else "group_pattern"
        )
        return f"grouped by {what}: {groups} source groups, each in one split"
    return "per file: each file's own draw (no source groups known)"


class _Read:
    def __init__(self, table: DatasetTable) -> None:
        self.table = table

    @functools.cached_property
    def hashes(self) -> dict[str, str]:
        return rows_hash_by_label(self.table.rows)


@functools.lru_cache(maxsize=8)
def _read_cached(
    table: Path, size: int, mtime_ns: int, columns: DatasetColumns, audio_root: Path, pattern: str | None
) -> _Read:
    read = read_dataset_table(table, columns, audio_root, check_files=False)
    compiled = compile_group_pattern(pattern) if pattern else None
    return _Read(
        DatasetTable(read.table_path, fill_groups(read.rows, compiled), read.failures, read.warnings)
    )
