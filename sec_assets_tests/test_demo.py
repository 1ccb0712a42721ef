"""`make demo`'s command as a user runs it: every octave's selected model far above chance, the
registry and the octave comparison filled, figures that differ between resolutions."""

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sec_assets.core.store import catalog

pytestmark = pytest.mark.slow


def test_demo_beats_chance_at_every_octave_and_compares_them(tmp_path: Path, model_store: Path):
    home = tmp_path / "sec"
    env = {**os.environ, "SEC_MODELS": str(model_store), "DAGSTER_HOME": str(tmp_path / "dagster")}
    env.pop("SEC_HOME", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sec-assets"), "demo", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    lines = re.findall(r"^1/(\d+)\s+octave: .* macro-F1 ([\d.]+),.*registry: (\S+) v1 @(\w+)$", out, re.M)
    assert [int(n) for n, *_ in lines] == [1, 3, 6, 12, 24]
    assert all(name == f"sec-classifier-oct{n}" for n, _, name, _ in lines)
    selected = catalog.query(
        home, "SELECT octave, macro_f1, macro_f1_ci_low FROM evaluations WHERE split = 'test' AND selected"
    )
    assert selected.height == 5 and selected["macro_f1"].min() >= 0.6  # 5 classes: chance is 0.2
    comparison = catalog.query(home, "SELECT * FROM octave_comparison")
    assert comparison.height == 5 * 4  # octaves × feature sets
    per_feature = comparison.group_by("feature_set").agg(pl.col("valid_macro_f1").n_unique().alias("k"))
    assert per_feature["k"].max() > 1  # the resolution changes what some feature set achieves
    path = re.search(r"^octave comparison: (\S+)", out, re.M)
    assert path and Path(path.group(1)).is_file() and "recommended: 1/" in Path(path.group(1)).read_text()
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlflow/mlflow.db" in out
    # new recordings labelled by the champions (the corrupt one recorded, not fatal)
    inbox = re.search(r"^inbox: (\d+) of (\d+) new recordings labelled by (.+) \((\d+) failed\)", out, re.M)
    assert inbox and inbox.groups()[:2] == ("5", "6") and inbox.group(4) == "1"
    assert "sec-classifier-oct24 v1" in inbox.group(3)
    predictions = catalog.query(home, "SELECT DISTINCT octave FROM predictions ORDER BY 1")[
        "octave"
    ].to_list()
    assert predictions == [1, 3, 6, 12, 24]
