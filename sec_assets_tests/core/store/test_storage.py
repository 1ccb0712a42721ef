"""Partition files: one Parquet file per partition, row groups gathering shards, streamed reads."""

from __future__ import annotations

from pathlib import Path

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
