"""Partition files: one Parquet file per partition, row groups gathering shards, streamed reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from sec_assets.core.store import storage

DIMS = {"audio_class": "dog"}


def _shards(count: int, rows: int = 64) -> list[pl.DataFrame]:
    return [
        pl.DataFrame(
            {
                "key": [f"k{s:03d}-{i:02d}" for i in range(rows)],
                "value": pl.Series(range(s * rows, (s + 1) * rows), dtype=pl.Int64),
                "vector": pl.Series([[float(i)] * 4 for i in range(rows)], dtype=pl.Array(pl.Float32, 4)),
                "audio": [bytes([s % 256]) * 32] * rows,
            }
        )
        for s in range(count)
    ]


def test_a_partition_is_one_file_whose_row_groups_gather_small_shards(tmp_path: Path):
    shards = _shards(16)
    final, fingerprint, rows = storage.write_partition(tmp_path, "t", DIMS, iter(shards))
    files = storage.partition_files(tmp_path, "t", DIMS)
    assert files == [final / "part-00000.parquet"] and rows == 16 * 64
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 1  # 16 small shards, one group
    everything = pl.concat(shards)
    assert storage.read_partition(tmp_path, "t", DIMS).equals(everything)  # types and order kept
    batches = list(storage.iter_partition_batches(tmp_path, "t", DIMS, 100, ["key", "vector"]))
    assert pl.concat(batches).equals(everything.select("key", "vector"))
    assert max(b.height for b in batches) <= 100
    again = storage.write_partition(tmp_path, "t", DIMS, iter(shards))  # replaces, same bytes
    assert again[1] == fingerprint and storage.read_partition(tmp_path, "t", DIMS).height == 16 * 64


def test_large_shards_get_their_own_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(storage, "ROW_GROUP_BYTES", 1)  # every shard is "large"
    storage.write_partition(tmp_path, "t", DIMS, iter(_shards(5)))
    (path,) = storage.partition_files(tmp_path, "t", DIMS)
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    assert storage.read_partition(tmp_path, "t", DIMS)["value"].to_list() == list(range(5 * 64))


def test_no_frames_write_no_file_and_an_empty_frame_an_empty_file(tmp_path: Path):
    storage.write_partition(tmp_path, "t", DIMS, iter([]))
    assert storage.partition_files(tmp_path, "t", DIMS) == []
    empty = pl.DataFrame(schema={"key": pl.String})
    storage.write_partition(tmp_path, "t", DIMS, empty)
    assert storage.read_partition(tmp_path, "t", DIMS).schema == empty.schema


READ_PEAK = """
import json, sys
from pathlib import Path
import pyarrow as pa
from sec_assets.core.store import storage
batches = storage.iter_partition_batches(Path(sys.argv[1]), "t", {"audio_class": "dog"}, 16)
rows = sum(b.height for b in batches)
print(json.dumps({"rows": rows, "pool_peak": pa.default_memory_pool().max_memory()}))
"""


def test_a_streamed_read_holds_one_row_group_not_the_whole_file(tmp_path: Path):
    """pyarrow's default pre-buffers every row group of the file; the reader must not (a
    10,000-segment class held its whole stored audio). Arrow's pool peak, in a fresh process,
    is the measure: allocations are deterministic, unlike RSS."""
    rng = np.random.default_rng(0)
    group_bytes = 4 << 20
    shards = [
        pl.DataFrame({"audio": [rng.bytes(group_bytes // 32) for _ in range(32)]})  # incompressible
        for _ in range(16)
    ]
    old = storage.ROW_GROUP_BYTES
    try:
        storage.ROW_GROUP_BYTES = group_bytes
        storage.write_partition(tmp_path, "t", DIMS, iter(shards))
    finally:
        storage.ROW_GROUP_BYTES = old
    (path,) = storage.partition_files(tmp_path, "t", DIMS)
    assert pq.ParquetFile(path).metadata.num_row_groups == 16  # a 64 MB file of 4 MB row groups
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", READ_PEAK, str(tmp_path)], capture_output=True, text=True, env=env, check=True
    )
    measured = json.loads(out.stdout)
    assert measured["rows"] == 16 * 32
    # one group at a time is ≈ 19 MB here (compressed page, decompressed page, the batch) for 12
    # or 24 groups alike; pre-buffered, the peak exceeds the whole 64 MB file
    assert measured["pool_peak"] < 8 * group_bytes, measured
