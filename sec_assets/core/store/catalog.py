"""The lineage catalog: ``SEC_HOME/catalog.duckdb``, views over the partitioned Parquet store.

DuckDB allows one writing process per database file, while steps run as separate processes (later
on separate nodes). So no step ever writes to the DuckDB file: every step writes its own Parquet
partition (atomically, see :mod:`sec_assets.core.store.storage`) plus one lineage row for that
partition, and the catalog is a set of *views* over those files. The database file is written
only when the view definitions change, under an exclusive file lock, so any number of concurrent
writers neither lose nor corrupt rows, and re-materializing a partition replaces its rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from sec_assets.core.locks import file_lock
from sec_assets.core.store import storage
from sec_assets.core.store.schemas import CATALOG_VERSION, TABLE_SCHEMAS, VIEWS

__all__ = ["CATALOG_VERSION", "TABLE_SCHEMAS", "VIEWS"]  # declared in schemas; kept here for callers


def catalog_path(home: Path) -> Path:
    return home / "catalog.duckdb"


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / "catalog.lock"):
        yield


def _stamp(home: Path) -> str:
    return json.dumps({"version": CATALOG_VERSION, "home": str(home)})


def view_select(home: Path, table: str, exclude: Sequence[str], prefix: str = "") -> str:
    """The SELECT of a view over one table's Parquet files under ``home`` (``prefix``: columns
    put first, e.g. ``'seg5' AS task, ``)."""
    pattern = str(storage.table_dir(home, table) / "**" / "*.parquet").replace("'", "''")
    select = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
    options = "union_by_name = true, hive_partitioning = false"
    return f"SELECT {prefix}{select} FROM read_parquet('{pattern}', {options})"


def _view_sql(home: Path, view: str, table: str, exclude: Sequence[str]) -> str:
    return f'CREATE OR REPLACE VIEW "{view}" AS {view_select(home, table, exclude)}'


def ensure_catalog(home: Path) -> Path:
    """Create the schema files and the catalog's views once (idempotent, safe concurrently)."""
    path = catalog_path(home)
    stamp_file = home / "catalog.stamp"
    if path.exists() and stamp_file.exists() and stamp_file.read_text() == _stamp(home):
        return path
    with _locked(home):
        if path.exists() and stamp_file.exists() and stamp_file.read_text() == _stamp(home):
            return path
        for table, schema in TABLE_SCHEMAS.items():
            storage.ensure_schema_file(home, table, schema)
        with duckdb.connect(str(path)) as con:
            for view, (table, exclude) in VIEWS.items():
                con.execute(_view_sql(home, view, table, exclude))
        storage.atomic_write_bytes(stamp_file, _stamp(home).encode())
    return path


def query(home: Path, sql: str) -> pl.DataFrame:
    """Run read-only SQL against the catalog (concurrent readers are fine)."""
    path = ensure_catalog(home)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).pl()


def select(
    home: Path, view: str, columns: Sequence[str], where: str = "", distinct: bool = False
) -> pl.DataFrame:
    """``SELECT columns FROM view`` where a column no partition has yet (an older layout) comes back
    null, typed as in :data:`~sec_assets.core.store.schemas.TABLE_SCHEMAS`."""
    path = ensure_catalog(home)
    table = VIEWS[view][0]
    types = TABLE_SCHEMAS[table]
    with duckdb.connect(str(path), read_only=True) as con:
        present = {row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()}
        exprs = [f'"{c}"' if c in present else f'NULL AS "{c}"' for c in columns]
        sql = f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(exprs)} FROM {view}"
        frame = con.execute(sql + (f" WHERE {where}" if where else "")).pl()
    return frame.cast({c: types[c] for c in columns if c in types})


def params_json(params: Mapping[str, Any]) -> str:
    """A lineage row's ``params``, as stored (compared to decide whether a partition is current)."""
    return json.dumps(dict(params), sort_keys=True, default=str)


def inputs_json(inputs: Sequence[Mapping[str, Any]]) -> str:
    """A lineage row's ``inputs``: the upstream partitions' runs and output fingerprints."""
    return json.dumps(list(inputs), sort_keys=True, default=str)


def record_lineage(
    home: Path,
    *,
    asset: str,
    partition_key: str,
    run_id: str,
    code_version: str,
    params: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
    output_fingerprint: str,
    rows: int,
) -> None:
    """Replace the lineage row of one (asset, partition)."""
    frame = pl.DataFrame(
        {
            "asset": [asset],
            "partition_key": [partition_key],
            "run_id": [run_id],
            "code_version": [code_version],
            "params": [params_json(params)],
            "inputs": [inputs_json(inputs)],
            "output_fingerprint": [output_fingerprint],
            "rows": [rows],
            "created_at": [dt.datetime.now(dt.UTC)],
        },
        schema=TABLE_SCHEMAS["lineage"],
    )
    storage.write_partition(home, "lineage", {"asset": asset, "partition": partition_key}, frame)


def record_failures(home: Path, *, asset: str, partition_key: str, rows: Sequence[Mapping[str, Any]]) -> int:
    """Replace the failure rows of one (asset, partition): files or segments a step could not use,
    each with its reason, while the rest of the partition was written. Returns the count."""
    frame = pl.DataFrame(
        [{"asset": asset, "partition_key": partition_key, **row} for row in rows],
        schema=TABLE_SCHEMAS["step_failures"],
    )
    write_table_partition(home, "step_failures", {"asset": asset, "partition": partition_key}, frame)
    return frame.height


def read_lineage(home: Path, asset: str, partition_key: str) -> dict[str, Any] | None:
    """The lineage row of one (asset, partition), or None if it was never materialized."""
    try:
        frame = storage.read_partition(home, "lineage", {"asset": asset, "partition": partition_key})
    except FileNotFoundError:
        return None
    return frame.row(0, named=True)


def write_table_partition(
    home: Path, table: str, dims: Mapping[str, str], frames: pl.DataFrame | Iterable[pl.DataFrame]
) -> tuple[Path, str, int]:
    """Write one partition of a catalogued table, cast to the table's schema (catches drift).

    An empty partition still gets one zero-row file, so "materialized, nothing in it" differs
    from "never materialized".
    """
    ensure_catalog(home)
    schema = TABLE_SCHEMAS[table]

    def conformed() -> Iterator[pl.DataFrame]:
        wrote = False
        for frame in [frames] if isinstance(frames, pl.DataFrame) else frames:
            wrote = True
            yield frame.select([pl.col(c).cast(t) for c, t in schema.items()])
        if not wrote:
            yield pl.DataFrame(schema=schema)

    return storage.write_partition(home, table, dims, conformed())
