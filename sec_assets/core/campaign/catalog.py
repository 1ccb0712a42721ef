"""The campaign catalog: every view of the tasks' catalogs in one DuckDB file, with a ``task``
column, so tasks compare in one query::

    SELECT task, octave, macro_f1 FROM evaluations WHERE split = 'test' AND selected

``<campaign home>/catalog.duckdb`` holds views over the tasks' Parquet files (nothing is
copied; a task materialized later shows up at once) and a ``tasks`` table of each task's
settings. It is rebuilt (atomically) by ``sec-assets campaign run`` and ``status``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from sec_assets.core.campaign.spec import Campaign
from sec_assets.core.store.catalog import ensure_catalog, view_select
from sec_assets.core.store.schemas import VIEWS


def campaign_catalog_path(campaign: Campaign) -> Path:
    return campaign.home / "catalog.duckdb"


def tasks_frame(campaign: Campaign) -> pl.DataFrame:
    """One row per task: its name, identity, where it runs, octaves, home and settings (JSON)."""
    return pl.DataFrame(
        [
            {
                "task": t.name,
                "digest": t.digest,
                "description": t.description,
                "where": t.run.where,
                "octaves": list(t.octaves),
                "home": str(t.settings.home),
                "overlay": json.dumps(dict(t.overlay), sort_keys=True, default=str),
                "settings": t.settings.model_dump_json(),
            }
            for t in campaign.tasks
        ],
        schema={
            "task": pl.String,
            "digest": pl.String,
            "description": pl.String,
            "where": pl.String,
            "octaves": pl.List(pl.Int64),
            "home": pl.String,
            "overlay": pl.String,
            "settings": pl.String,
        },
    )


def _union(campaign: Campaign, table: str, exclude: Sequence[str]) -> str:
    parts = [
        view_select(t.settings.home, table, exclude, prefix=f"'{t.name}' AS task, ") for t in campaign.tasks
    ]
    return " UNION ALL BY NAME ".join(f"({part})" for part in parts)


def build_campaign_catalog(campaign: Campaign) -> Path:
    """(Re)write the campaign catalog; each task's own catalog is created if missing."""
    for task in campaign.tasks:
        ensure_catalog(task.settings.home)
    path = campaign_catalog_path(campaign)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tasks = tasks_frame(campaign)
    with duckdb.connect(str(tmp)) as con:
        con.register("tasks_frame", tasks.to_arrow())
        con.execute("CREATE TABLE tasks AS SELECT * FROM tasks_frame")
        con.unregister("tasks_frame")
        for view, (table, exclude) in VIEWS.items():
            con.execute(f'CREATE VIEW "{view}" AS {_union(campaign, table, exclude)}')
    os.replace(tmp, path)
    return path


def query_campaign(campaign: Campaign, sql: str) -> pl.DataFrame:
    """Read-only SQL against the campaign catalog (rebuilt first: views only, so it is quick and
    follows the campaign file)."""
    path = build_campaign_catalog(campaign)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).pl()
