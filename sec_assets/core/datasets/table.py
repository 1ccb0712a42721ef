"""A dataset as published: a metadata table over a folder of audio, read and checked as a whole.

ESC-50, UrbanSound8K and BirdCLEF-style datasets arrive as audio plus a table (CSV, TSV or
Parquet) that says which file is which class, which source recording (group) it was cut from,
which official fold it belongs to and, for slices of a longer recording, where the clip starts and
ends. :class:`DatasetColumns` maps the table's own column names onto those roles, so a table is
read as its authors wrote it; every column not mapped is kept, per row, as a JSON object (``meta``:
secondary labels, ratings, authors … for later use), never dropped.

What is checked, and how it fails:

- **The table as a whole** — file missing, unreadable, empty, a mapped column missing, an empty
  label or path, a duplicate path (same path *and* same clip bounds: ESC-50 lists each file once,
  UrbanSound8K lists each slice once), a path outside ``audio_root`` (absolute elsewhere, ``..``
  climbing out, or a symbolic link that resolves outside), a fold that is not an integer, clip
  bounds that are not numbers, negative, only one of the two, or ``end ≤ start``. Each raises
  :class:`DatasetTableError` naming the table file, the row and the column, and nothing is
  returned: a table half-read would silently re-label or drop classes, and the user fixes the
  row and reads again.
- **One row's audio file** — missing, a folder, not audio, empty or refused by the decoder: that
  row is a recorded failure with its reason (``failures``) and the other rows go on; a few bad
  uploads must not block thousands of good ones (the rule of the folder manifest, too). Only the
  header is opened here; the full decode (truncation, non-finite samples, clip length) stays the
  raw manifest's, per class, as for folder data.
- **Labels that differ only by case or surrounding whitespace** (``Dog``, ``dog``, ``dog ``) are
  kept as written — they are distinct classes in the file — and reported in ``warnings``, naming
  the spellings and their rows, since they are almost always a typo.

Rows are numbered as a person counts data rows in the file: ``row`` 1 is the first row after the
header line (line 2 of a CSV/TSV), whatever the row order on disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import soundfile as sf
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from sec_assets.core.audio.audio_io import audio_format
from sec_assets.core.audio.diagnose import undecodable_reason
from sec_assets.core.datasets.cells import (
    SETTING,
    DatasetTableError,
    Where,
    as_text,
    bounds,
    integers,
    meta_json,
    path_fields,
    path_text,
    relative_paths,
)
from sec_assets.core.hashing import stable_hex

TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
ROLES = ("path", "label", "group", "fold", "start_s", "end_s")
MAX_LISTED = 10  # rows named in one message; the rest are counted

ROWS_SCHEMA = {
    "row": pl.Int64,
    "path": pl.String,
    "label": pl.String,
    "group": pl.String,
    "fold": pl.Int64,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
    "meta": pl.String,
}
FAILURES_SCHEMA = {"row": pl.Int64, "path": pl.String, "reason": pl.String}


class DatasetColumns(BaseModel):
    """Which column of the table plays which role (the ``dataset_columns`` setting).

    ``path`` (relative to ``audio_root``; a column, or a template of columns such as
    ``fold{fold}/{slice_file_name}``) and ``label`` are required; ``group`` (source recording,
    speaker, site), ``fold`` (official fold) and ``start_s``/``end_s`` (a clip inside a longer
    file, in seconds; both or neither) are optional. Every other column is kept as metadata.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    label: str
    group: str | None = None
    fold: str | None = None
    start_s: str | None = None
    end_s: str | None = None

    @field_validator(*ROLES)
    @classmethod
    def _a_name(cls, value: str | None, info: Any) -> str | None:
        if value is not None and not value.strip():
            raise ValueError(f"{SETTING}.{info.field_name}: a column name cannot be empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetColumns:
        if (self.start_s is None) != (self.end_s is None):
            given, missing = ("start_s", "end_s") if self.end_s is None else ("end_s", "start_s")
            raise ValueError(
                f"{SETTING}.{missing} is required when {SETTING}.{given} is set: a clip needs both bounds"
            )
        seen: dict[str, str] = {}
        for role, column in self.mapped().items():
            if column in seen:
                raise ValueError(
                    f"{SETTING}.{role} and {SETTING}.{seen[column]} both name the column {column!r}: "
                    "each role needs its own column"
                )
            seen[column] = role
        return self

    def mapped(self) -> dict[str, str]:
        """role → table column, for the roles that are mapped."""
        return {role: getattr(self, role) for role in ROLES if getattr(self, role) is not None}


@dataclass(frozen=True)
class DatasetTable:
    """A read table: the usable rows, the rows whose audio file failed, and warnings."""

    table_path: Path
    rows: pl.DataFrame  # ROWS_SCHEMA, by row number
    failures: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FAILURES_SCHEMA))
    warnings: tuple[str, ...] = ()


def read_dataset_table(
    table_path: Path, columns: DatasetColumns, audio_root: Path, check_files: bool = True
) -> DatasetTable:
    """Read and check a dataset table (CSV, TSV or Parquet, by extension) over ``audio_root``.

    Raises :class:`DatasetTableError` for a table that cannot be used as a whole (see the module
    docstring); otherwise returns every row whose audio file opens, the failed rows with their
    reason, and the label-spelling warnings. ``check_files=False`` leaves the audio files alone
    (class discovery and sensors: the raw manifest grades each file, per class, anyway).
    """
    table_path = Path(table_path)
    audio_root = Path(audio_root)
    raw = _read_frame(table_path)
    where = Where(table_path)
    mapped = columns.mapped()
    needed = [
        (role, c)
        for role, column in mapped.items()
        for c in (path_fields(column) if role == "path" else [column])
    ]
    absent = [f"{column!r} ({role})" for role, column in needed if column not in raw.columns]
    if absent:
        raise DatasetTableError(
            f"{table_path}: no column {', '.join(absent)} — the table has the columns "
            f"{', '.join(repr(c) for c in raw.columns)}; set {SETTING} to map them"
        )
    if not audio_root.is_dir():
        raise DatasetTableError(f"{table_path}: audio_root {audio_root} is not a folder (paths are under it)")
    n = raw.height
    numbers = pl.Series("row", range(1, n + 1), dtype=pl.Int64)

    labels = as_text(raw[columns.label])
    where.require(labels.is_null() | (labels.str.strip_chars() == ""), numbers, columns.label, "empty label")
    paths = relative_paths(path_text(raw, columns.path), numbers, audio_root, columns.path, where)
    groups = (
        as_text(raw[columns.group]).str.strip_chars()
        if columns.group
        else pl.repeat(None, n, dtype=pl.String, eager=True)
    )
    groups = groups.replace("", None)
    folds = (
        integers(raw[columns.fold], numbers, columns.fold, where)
        if columns.fold
        else pl.repeat(None, n, dtype=pl.Int64, eager=True)
    )
    starts, ends = bounds(raw, columns.start_s, columns.end_s, numbers, where)

    rows = pl.DataFrame(
        {
            "row": numbers,
            "path": paths,
            "label": labels,
            "group": groups.alias("group"),
            "fold": folds.alias("fold"),
            "start_s": starts.alias("start_s"),
            "end_s": ends.alias("end_s"),
            "meta": meta_json(raw, set(mapped.values())),
        },
        schema=ROWS_SCHEMA,
    )
    _no_duplicates(rows, columns, where)
    warnings = _label_warnings(rows)
    if not check_files:
        return DatasetTable(table_path, rows, warnings=warnings)
    failures = _file_failures(rows, audio_root)
    if not failures.is_empty():
        rows = rows.filter(~pl.col("row").is_in(failures["row"].implode()))
    return DatasetTable(table_path, rows, failures, warnings)


def rows_hash_by_label(rows: pl.DataFrame) -> dict[str, str]:
    """label → a stable hash of that label's rows (order-free; the row number is left out, so
    inserting or moving rows changes nothing). Editing one row changes exactly its label's hash
    (two labels' when the edit moves it to another label): lineage re-runs those classes only."""
    content = [c for c in ROWS_SCHEMA if c not in ("row", "label")]
    out: dict[str, str] = {}
    for (label,), part in rows.sort("label").group_by("label", maintain_order=True):
        body = tuple(sorted(tuple(r) for r in part.select(content).rows()))
        out[str(label)] = stable_hex("dataset-rows", label, body, size=8)
    return out


# --- reading -----------------------------------------------------------------------------------


def _read_frame(table_path: Path) -> pl.DataFrame:
    kind = TABLE_FORMATS.get(table_path.suffix.lower())
    if kind is None:
        raise DatasetTableError(
            f"{table_path}: unsupported table format {table_path.suffix or '(no extension)'!r}; "
            f"use {', '.join(TABLE_FORMATS)}"
        )
    if not table_path.exists():
        raise DatasetTableError(f"{table_path}: the dataset table does not exist")
    if not table_path.is_file():
        raise DatasetTableError(f"{table_path}: the dataset table is not a file")
    if table_path.stat().st_size == 0:
        raise DatasetTableError(f"{table_path}: the dataset table is empty (0 bytes)")
    try:
        if kind == "parquet":
            frame = pl.read_parquet(table_path)
        else:  # every cell as text: the checks below say which cell is not a number, polars would not
            sep = "," if kind == "csv" else "\t"
            frame = pl.read_csv(table_path, separator=sep, infer_schema=False)
    except pl.exceptions.NoDataError as exc:
        raise DatasetTableError(f"{table_path}: the dataset table is empty ({exc})") from exc
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetTableError(f"{table_path}: cannot read the {kind.upper()} table: {detail}") from exc
    if frame.height == 0:
        raise DatasetTableError(f"{table_path}: the dataset table has no rows (a header only)")
    return frame


def _listed(values: Sequence[int]) -> str:
    head = ", ".join(str(v) for v in values[:MAX_LISTED])
    return head + (f" … ({len(values)} rows)" if len(values) > MAX_LISTED else "")


def _no_duplicates(rows: pl.DataFrame, columns: DatasetColumns, where: Where) -> None:
    dupes = (
        rows.group_by("path", "start_s", "end_s")
        .agg(pl.col("row").sort())
        .filter(pl.col("row").list.len() > 1)
        .sort(pl.col("row").list.first())
    )
    if dupes.is_empty():
        return
    first = dupes.row(0, named=True)
    clip = (
        "" if first["start_s"] is None else f" with the same clip {first['start_s']:g}–{first['end_s']:g} s"
    )
    others = f"; {dupes.height - 1} more paths are listed twice" if dupes.height > 1 else ""
    raise DatasetTableError(
        f"{where.table_path}: rows {_listed(first['row'])}, column {columns.path!r}: the path "
        f"{first['path']!r} is listed twice{clip}{others}"
    )


def _label_warnings(rows: pl.DataFrame) -> tuple[str, ...]:
    spellings = (
        rows.group_by("label")
        .agg(pl.col("row").sort())
        .with_columns(pl.col("label").str.strip_chars().str.to_lowercase().alias("folded"))
        .sort("label")
    )
    warnings = []
    for (folded,), part in spellings.group_by("folded", maintain_order=True):
        if part.height < 2:
            continue
        named = "; ".join(f"{r['label']!r} in rows {_listed(r['row'])}" for r in part.iter_rows(named=True))
        warnings.append(f"labels differ only by case or surrounding whitespace ({folded!r}): {named}")
    return tuple(sorted(warnings))


def _file_failures(rows: pl.DataFrame, audio_root: Path) -> pl.DataFrame:
    """The rows whose audio file does not open, each with its reason (each path opened once)."""
    reasons = {rel: _file_problem(audio_root / rel) for rel in rows["path"].unique().sort()}
    bad = [
        {"row": number, "path": rel, "reason": reasons[rel]}
        for number, rel in zip(rows["row"], rows["path"], strict=True)
        if reasons[rel] is not None
    ]
    return pl.DataFrame(bad, schema=FAILURES_SCHEMA)


def _file_problem(path: Path) -> str | None:
    """Why a listed audio file cannot be used, or None (only the header is read)."""
    if path.is_symlink() and not path.exists():
        return f"broken symbolic link (to {os.readlink(path)})"
    if not path.exists():
        return "missing: no such file under audio_root"
    if not path.is_file():
        return "not a file (a folder or a device)"
    fmt = audio_format(path)
    if fmt is None:
        return f"not an audio file (extension {path.suffix or 'none'!r})"
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        info = sf.info(str(path))
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        try:
            return undecodable_reason(path, fmt, exc)
        except OSError as again:
            return f"unreadable: {again.strerror or again}"
    if info.samplerate <= 0 or info.channels <= 0 or not math.isfinite(info.duration):
        return f"invalid header: sample rate {info.samplerate}, channels {info.channels}"
    return None
