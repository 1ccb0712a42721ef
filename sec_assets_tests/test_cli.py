"""The commands as a user types them, in subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _run(args, env, timeout=300):
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def _materialize_raw_manifest(partition: str, env):
    args = ["asset", "materialize", "-m", "sec_assets.definitions", "--select", "raw_manifest"]
    return _run([str(BIN / "dagster"), *args, "--partition", partition], env)


def test_scan_then_dagster_asset_materialize(tmp_path: Path, demo_dataset):
    root, truth = demo_dataset
    env = {
        **os.environ,
        "SEC_HOME": str(tmp_path / "home"),
        "SEC_AUDIO_ROOT": str(root),
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    scan = _run([str(BIN / "sec-assets"), "scan"], env)
    assert scan.returncode == 0, scan.stderr
    assert "5 classes" in scan.stdout and "noise_burst-" in scan.stdout and "'noise burst'" in scan.stdout
    key = next(line.split()[1] for line in scan.stdout.splitlines() if "noise_burst-" in line)
    mat = _materialize_raw_manifest(key, env)
    assert mat.returncode == 0, mat.stderr[-3000:]
    assert "RUN_SUCCESS" in mat.stderr + mat.stdout
    query = _run(
        [
            str(BIN / "sec-assets"),
            "catalog",
            "--format",
            "csv",
            "SELECT audio_class, status, count(*) AS n FROM audio_files GROUP BY ALL ORDER BY 2",
        ],
        env,
    )
    assert query.returncode == 0, query.stderr
    expected = sum(t.audio_class == "noise burst" for t in truth)
    assert query.stdout.strip().splitlines() == [
        "audio_class,status,n",
        f"noise burst,ok,{expected}",
    ]
    # the catalog is read-only from the CLI
    bad = _run([str(BIN / "sec-assets"), "catalog", "DROP VIEW audio_files"], env)
    assert bad.returncode == 2 and "read-only" in bad.stderr.lower()
    # a home without a catalog: said so, with the path and how to point elsewhere; nothing created
    elsewhere = {**env, "SEC_HOME": str(tmp_path / "empty-home")}
    none = _run([str(BIN / "sec-assets"), "catalog", "SELECT 1"], elsewhere)
    assert none.returncode == 2 and none.stdout == ""
    assert f"no catalog at {tmp_path / 'empty-home' / 'catalog.duckdb'}" in none.stderr
    assert "--home DIR, SEC_HOME=DIR" in none.stderr and not (tmp_path / "empty-home").exists()
    pointed = _run(
        [str(BIN / "sec-assets"), "catalog", "--home", env["SEC_HOME"], "SELECT 1 AS x"], elsewhere
    )
    assert pointed.returncode == 0 and "x" in pointed.stdout, pointed.stderr
    # unknown partition: a clear failure, nothing written
    missing = _materialize_raw_manifest("no-such-class", env)
    assert missing.returncode != 0
    assert not (tmp_path / "home" / "data" / "raw_manifest" / "audio_class=no-such-class").exists()


def test_scan_checks_a_dataset_table_then_registers_its_labels(tmp_path: Path):
    import polars as pl

    from sec_assets.testing.dataset_tables import ESC50_COLUMNS, write_esc50_like

    table, audio = write_esc50_like(tmp_path / "esc50", classes=4)
    (audio / "5-100110-A-1.wav").unlink()  # one row's file is gone
    config = tmp_path / "sec.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\naudio_root: {audio}\n"
        f"dataset_columns: {ESC50_COLUMNS.model_dump_json(exclude_none=True)}\n"
    )
    env = {
        **os.environ,
        "SEC_CONFIG": str(config),
        "SEC_DATASET_TABLE": str(table),
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    scan = _run([str(BIN / "sec-assets"), "scan"], env)
    assert scan.returncode == 0, scan.stderr
    out = scan.stdout
    summary = f"{table}: 84 rows, 83 with a readable file, 1 failed; 4 labels, 50 source groups"
    assert f"{summary}, folds 1, 2, 3, 4, 5" in out
    assert "(5-100110-A-1.wav): " in out
    assert "note: source group '900001' is in folds [1, 2] under dog, rooster" in out
    assert f"4 classes in the table {table}, 4 newly registered" in out

    rows = pl.read_csv(table, infer_schema=False)
    pl.concat([rows, rows.head(1)]).write_csv(table)  # the first row listed twice
    again = _run([str(BIN / "sec-assets"), "scan"], env)
    assert again.returncode == 2
    assert "column 'filename': the path '1-100000-A-0.wav' is listed twice" in again.stderr
