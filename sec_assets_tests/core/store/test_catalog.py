"""The catalog under concurrent writers, and replacing re-writes."""

import multiprocessing as mp
from pathlib import Path

import polars as pl

from sec_assets.core.store import catalog

ROWS_PER_PARTITION = 250


def _frame(key: str, n: int, tag: int) -> pl.DataFrame:
    """Manifest rows with the columns this test varies; the others null (as for failed files)."""
    schema = catalog.TABLE_SCHEMAS["raw_manifest"]
    frame = pl.DataFrame(
        {
            "audio_class": [key] * n,
            "partition_key": [key] * n,
            "path": [f"/audio/{key}/{i}-{tag}.wav" for i in range(n)],
            "relative_path": [f"{i}.wav" for i in range(n)],
            "format": ["wav"] * n,
            "sample_rate": [16000] * n,
            "channels": [1] * n,
            "frames": [16000] * n,
            "duration_s": [1.0] * n,
            "sha256": [f"{key}{i}" for i in range(n)],
            "size_bytes": [100] * n,
            "status": ["ok"] * n,
            "error": [None] * n,
        }
    )
    return frame.with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in frame.columns
    )


def _writer(home: str, worker: int) -> None:
    home_path = Path(home)
    for rep in range(3):  # every worker also rewrites a shared partition and its own, repeatedly
        for key in (f"class{worker}a", f"class{worker}b", "shared"):
            written = catalog.write_table_partition(
                home_path,
                "raw_manifest",
                {"audio_class": key},
                _frame(key, ROWS_PER_PARTITION, worker * 10 + rep),
            )
            catalog.record_lineage(
                home_path,
                asset="raw_manifest",
                partition_key=key,
                run_id=f"w{worker}r{rep}",
                code_version="test",
                params={},
                inputs=[],
                output_fingerprint=written[1],
                rows=written[2],
            )


def test_eight_concurrent_writers_lose_nothing(tmp_path: Path):
    home = tmp_path / "home"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(home), w)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    counts = catalog.query(home, "SELECT partition_key, count(*) AS n FROM audio_files GROUP BY 1 ORDER BY 1")
    assert counts.height == 17
    assert counts["n"].to_list() == [ROWS_PER_PARTITION] * 17
    total = catalog.query(home, "SELECT count(*) FROM audio_files").item()
    assert total == 17 * ROWS_PER_PARTITION
    lineage = catalog.query(home, "SELECT partition_key, rows FROM lineage WHERE asset = 'raw_manifest'")
    assert lineage.height == 17 and set(lineage["rows"]) == {ROWS_PER_PARTITION}
    # the shared partition holds exactly one writer's rows, not a mix
    tags = catalog.query(
        home,
        "SELECT DISTINCT regexp_extract(path, '-(\\d+)\\.wav', 1) AS t FROM audio_files "
        "WHERE partition_key = 'shared'",
    )
    assert tags.height == 1
    assert [p.name for p in (home / "tmp").iterdir()] == ["locks"]  # no scratch data left behind


def test_rewrite_replaces_rows(tmp_path: Path):
    home = tmp_path / "home"
    for n in (5, 3, 3):
        catalog.write_table_partition(home, "raw_manifest", {"audio_class": "dog"}, _frame("dog", n, 0))
    assert catalog.query(home, "SELECT count(*) FROM audio_files").item() == 3


def test_views_work_before_anything_is_written(tmp_path: Path):
    home = tmp_path / "home"
    for view in catalog.VIEWS:
        assert catalog.query(home, f'SELECT count(*) FROM "{view}"').item() == 0
