"""The served-request log: the ``served_requests`` table (one row per request × served octave ×
window, its top-1 label), written by the service in shard files and read by the drift watch and
the catalog view ``served_requests``.

A shard is one Parquet file ``part-<UTC time>-<random>.parquet`` under the partition of the UTC day
(``<home>/data/served_requests/day=YYYY-MM-DD/``), written whole by temp file + rename: a reader
sees a shard entirely or not at all, and a crash loses at most the rows not flushed yet.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.store import storage
from sec_assets.core.store.schemas import TABLE_SCHEMAS

TABLE = "served_requests"
DAY = "day"  # the partition dimension: the UTC day a request came in
SCHEMA = TABLE_SCHEMAS[TABLE]


def day_of(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d")


def write_shard(home: Path, rows: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Write ``rows`` (``served_requests`` columns) as one shard per UTC day; the paths written."""
    if not rows:
        return []
    frame = pl.DataFrame(list(rows), schema=SCHEMA)
    written = []
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    for (day,), part in sorted(frame.partition_by(DAY, as_dict=True).items()):
        buf = io.BytesIO()
        part.write_parquet(buf, compression="zstd")
        path = (
            storage.partition_dir(home, TABLE, {DAY: str(day)})
            / f"part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        )
        storage.atomic_write_bytes(path, buf.getvalue())
        written.append(path)
    return written


def read_served(home: Path, days: Sequence[str] | None = None) -> pl.DataFrame:
    """Every served row (of ``days``, when given), in time order."""
    root = storage.table_dir(home, TABLE)
    folders = sorted(root.glob(f"{DAY}=*")) if root.is_dir() else []
    files = [
        f
        for folder in folders
        if days is None or folder.name.split("=", 1)[1] in days
        for f in sorted(folder.glob("part-*.parquet"))
    ]
    if not files:
        return pl.DataFrame(schema=SCHEMA)
    frame = pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed").cast(SCHEMA)  # type: ignore[arg-type]
    return frame.sort("received_at", "request_id", "octave", "window_index")


class RequestLog:
    """Rows gathered from the request threads and flushed as a shard every ``flush_rows`` rows or
    on :meth:`flush` (the service flushes on a timer and at shutdown)."""

    def __init__(self, home: Path, flush_rows: int = 512) -> None:
        self.home = home
        self.flush_rows = flush_rows
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        with self._lock:
            self._rows.extend(dict(r) for r in rows)
            full = len(self._rows) >= self.flush_rows
        if full:
            self.flush()

    def flush(self) -> list[Path]:
        with self._lock:
            rows, self._rows = self._rows, []
        return write_shard(self.home, rows)
