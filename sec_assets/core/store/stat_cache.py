"""The manifest's stat cache: per class, each file's size and mtime when ``raw_manifest`` last
read it (``<home>/cache/raw_manifest/<class>.parquet``, written atomically, replaced each run).

It is a cache, never a source of truth: a missing or unreadable one means every file is read
again, and it lives outside the catalogued tables so a touched file changes nothing there.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from sec_assets.core.store.storage import atomic_write_bytes

SCHEMA = {"relative_path": pl.String, "size": pl.Int64, "mtime_ns": pl.Int64}


def path(home: Path, key: str) -> Path:
    return home / "cache" / "raw_manifest" / f"{key}.parquet"


def read(home: Path, key: str) -> dict[str, tuple[int, int]]:
    try:
        frame = pl.read_parquet(path(home, key))
    except (OSError, pl.exceptions.PolarsError):
        return {}
    return {r: (s, m) for r, s, m in frame.select(list(SCHEMA)).iter_rows()}


def write(home: Path, key: str, stats: Mapping[str, tuple[int, int]]) -> None:
    frame = pl.DataFrame([(r, s, m) for r, (s, m) in sorted(stats.items())], schema=SCHEMA, orient="row")
    buf = io.BytesIO()
    frame.write_parquet(buf)
    atomic_write_bytes(path(home, key), buf.getvalue())
