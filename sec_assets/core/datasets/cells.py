"""A dataset table's cells, read and checked one column at a time: text, numbers, folds, clip
bounds, paths under ``audio_root`` (or a template of columns), the metadata of unmapped columns.

Every problem raises :class:`DatasetTableError` through :class:`Where`, naming the table file,
the first row (as a person counts data rows) and the column; :mod:`.table` reads the table as a
whole with these.
"""

from __future__ import annotations

import os
import posixpath
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

SETTING = "dataset_columns"


class DatasetTableError(ValueError):
    """A table that cannot be used; the message names the table file, the row and the column."""


@dataclass(frozen=True)
class Where:
    table_path: Path

    def fail(self, rows: Sequence[int], column: str, problem: str) -> DatasetTableError:
        more = f" (and {len(rows) - 1} more rows)" if len(rows) > 1 else ""
        return DatasetTableError(f"{self.table_path}: row {rows[0]}, column {column!r}: {problem}{more}")

    def require(self, bad: pl.Series, numbers: pl.Series, column: str, problem: str) -> None:
        """Raise naming the first row where ``bad`` holds."""
        hit = numbers.filter(bad.fill_null(False))
        if hit.len():
            raise self.fail(hit.to_list(), column, problem)


def as_text(series: pl.Series) -> pl.Series:
    return series if series.dtype == pl.String else series.cast(pl.String)


def as_numbers(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(the values as Float64 with null for empty cells, the mask of cells that are not finite
    numbers). Parquet's NaN is an empty cell (pandas writes missing values so)."""
    if series.dtype.is_numeric():
        values = series.cast(pl.Float64).fill_nan(None)
        bad = values.is_infinite()
        return values, bad
    text = as_text(series).str.strip_chars().replace("", None)
    values = text.cast(pl.Float64, strict=False)
    bad = (text.is_not_null() & values.is_null()) | values.is_nan() | values.is_infinite()
    return values, bad


def integers(series: pl.Series, numbers: pl.Series, column: str, where: Where) -> pl.Series:
    values, bad = as_numbers(series)
    whole = values.is_null() | (values == values.floor())
    text = as_text(series)
    bad_rows = numbers.filter((bad | ~whole).fill_null(False)).to_list()
    if bad_rows:
        value = text.filter(numbers == bad_rows[0])[0]
        raise where.fail(bad_rows, column, f"fold {value!r} is not an integer")
    return values.cast(pl.Int64)


def bounds(
    raw: pl.DataFrame, start_s: str | None, end_s: str | None, numbers: pl.Series, where: Where
) -> tuple[pl.Series, pl.Series]:
    """The clip bounds (seconds) from the columns ``start_s``/``end_s``, checked: numbers, not
    negative, both or neither, ``end > start``."""
    n = raw.height
    if start_s is None or end_s is None:
        empty = pl.repeat(None, n, dtype=pl.Float64, eager=True)
        return empty, empty
    parsed = []
    for column in (start_s, end_s):
        values, bad = as_numbers(raw[column])
        bad_rows = numbers.filter(bad.fill_null(False)).to_list()
        if bad_rows:
            value = as_text(raw[column]).filter(numbers == bad_rows[0])[0]
            raise where.fail(bad_rows, column, f"{value!r} is not a number of seconds")
        where.require(values < 0, numbers, column, "a clip bound cannot be negative")
        parsed.append(values)
    start, end = parsed
    where.require(
        start.is_not_null() & end.is_null(),
        numbers,
        end_s,
        f"no end for the start in {start_s!r}",
    )
    where.require(
        start.is_null() & end.is_not_null(),
        numbers,
        start_s,
        f"no start for the end in {end_s!r}",
    )
    where.require(end <= start, numbers, end_s, f"the clip ends at or before its start ({start_s!r})")
    return start, end


def relative_paths(
    paths: pl.Series, numbers: pl.Series, audio_root: Path, column: str, where: Where
) -> pl.Series:
    """Each path as a normalised posix path relative to ``audio_root``; raise on one outside it."""
    where.require(paths.is_null() | (paths.str.strip_chars() == ""), numbers, column, "empty path")
    root = Path(os.path.abspath(audio_root))
    real_root = audio_root.resolve()
    out = []
    for number, raw in zip(numbers, paths, strict=True):
        candidate = Path(raw)
        if candidate.is_absolute():
            absolute = Path(os.path.normpath(candidate))
            base = root if absolute.is_relative_to(root) else real_root
            if not absolute.is_relative_to(base):
                raise where.fail([number], column, f"{raw!r} is outside audio_root {audio_root}")
            rel = absolute.relative_to(base).as_posix()
        else:
            rel = posixpath.normpath(candidate.as_posix())
        if rel in (".", "") or rel == ".." or rel.startswith("../"):
            raise where.fail(
                [number], column, f"{raw!r} is outside audio_root {audio_root} (it climbs out with '..')"
            )
        if not (root / rel).resolve().is_relative_to(real_root):
            raise where.fail(
                [number], column, f"{raw!r} is a symbolic link that resolves outside audio_root {audio_root}"
            )
        out.append(rel)
    return pl.Series("path", out, dtype=pl.String)


def meta_json(raw: pl.DataFrame, mapped: set[str]) -> pl.Series:
    """Every unmapped column, per row, as a JSON object with sorted keys."""
    rest = sorted(c for c in raw.columns if c not in mapped)
    if not rest:
        return pl.repeat("{}", raw.height, dtype=pl.String, eager=True).alias("meta")
    return raw.select(pl.struct(rest).struct.json_encode().alias("meta"))["meta"]


# --- checks across rows --------------------------------------------------------------------------


def path_fields(path: str) -> list[str]:
    """The columns a ``path`` mapping reads: the column itself, or the ``{column}`` fields of a
    template such as ``fold{fold}/{slice_file_name}`` (UrbanSound8K keeps each fold in a folder
    its table does not name)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(path) if name is not None]
    return fields or [path]


def path_text(raw: pl.DataFrame, path: str) -> pl.Series:
    parts = list(string.Formatter().parse(path))
    if not any(name is not None for _, name, _, _ in parts):
        return as_text(raw[path])
    plain = all(not (set(literal) & set("{}")) for literal, _, _, _ in parts)
    if not plain or any(
        name == "" or spec or conversion for _, name, spec, conversion in parts if name is not None
    ):
        raise DatasetTableError(
            f"{SETTING}.path {path!r}: a template names whole columns only, e.g. 'fold{{fold}}/{{file}}'"
        )
    template = "".join(literal + ("{}" if name is not None else "") for literal, name, _, _ in parts)
    columns = [pl.col(name).cast(pl.String) for _, name, _, _ in parts if name is not None]
    return raw.select(pl.format(template, *columns).alias("path"))["path"]
