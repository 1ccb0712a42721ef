"""`make demo`'s command as a user runs it: figures that mean something (every class scored in valid
and test, a CNN that trains, octave resolutions that differ), the registry and the octave comparison
filled, and a console that shows the demo's own lines only."""

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sec_assets.core.hashing import file_sha256
from sec_assets.core.store import catalog
from sec_assets.demo.data import write_demo_dataset

NOISE = ("Downloading artifacts", "BetaWarning", "PreviewWarning", "INFO mlflow", "Successfully registered")


def test_the_hard_demo_dataset_is_byte_deterministic(tmp_path: Path):
    a = write_demo_dataset(tmp_path / "a", files_per_class=2, hard=True)
    b = write_demo_dataset(tmp_path / "b", files_per_class=2, hard=True)
    easy = write_demo_dataset(tmp_path / "c", files_per_class=2)
    assert [file_sha256(x.path) for x in a] == [file_sha256(y.path) for y in b]
    assert {file_sha256(x.path) for x in a if not x.corrupt}.isdisjoint(file_sha256(x.path) for x in easy)
    assert all(8.5 <= x.frames / x.sample_rate <= 13.6 for x in a if not x.corrupt)  # two 7-s segments


@pytest.mark.slow
def test_demo_figures_mean_something_at_every_octave(tmp_path: Path, model_store: Path):
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
    for noise in NOISE:
        assert noise not in out + done.stderr, noise
    assert done.stderr == ""

    # every class is scored in valid and in test: at least two segments of each
    support = catalog.query(
        home,
        "SELECT split, audio_class, count(*) AS n FROM segments WHERE split IN ('valid', 'test') "
        "GROUP BY ALL",
    )
    classes = catalog.query(home, "SELECT DISTINCT audio_class FROM segments")["audio_class"].to_list()
    assert len(classes) == 5 and support.height == 2 * 5, support
    assert support["n"].min() >= 2, support
    assert catalog.query(home, "SELECT count(DISTINCT split) FROM splits").item() == 4

    # the CNN trains past its first epochs at every octave (its best epoch is a later one)
    cnn = catalog.query(
        home, "SELECT octave, epochs, best_epoch FROM models WHERE feature_set = 'octave_cnn'"
    )
    assert cnn.height == 5 and cnn["epochs"].min() > 2 and cnn["best_epoch"].min() > 2, cnn

    lines = re.findall(
        r"^1/(\d+)\s+octave: test accuracy ([\d.]+), macro-F1 ([\d.]+) \[[\d.]+, [\d.]+\]; selected (\S+) "
        r"→ registry: (\S+) v1 @(\w+)$",
        out,
        re.M,
    )
    assert [int(n) for n, *_ in lines] == [1, 3, 6, 12, 24]
    assert all(name == f"sec-classifier-oct{n}" for n, *_, name, _ in lines)
    assert len(re.findall(r"^ +support: test \d+(–\d+)? segments per class \(5 classes", out, re.M)) == 5
    selected = catalog.query(
        home, "SELECT octave, macro_f1, macro_f1_ci_low FROM evaluations WHERE split = 'test' AND selected"
    )
    assert selected.height == 5 and selected["macro_f1"].min() >= 0.4  # 5 classes: chance is 0.2

    # the resolutions differ: not every candidate at 1.0, and some feature set changes with the octave
    comparison = catalog.query(home, "SELECT * FROM octave_comparison")
    assert comparison.height == 5 * 4  # octaves × feature sets
    assert comparison["valid_macro_f1"].n_unique() > 4 and comparison["test_macro_f1"].max() < 1.0
    per_feature = comparison.group_by("feature_set").agg(pl.col("test_macro_f1").n_unique().alias("k"))
    assert per_feature.filter(pl.col("feature_set") != "clap")["k"].min() > 1
    assert re.search(r"^octave comparison, recommended: 1/\d+ octave with ", out, re.M)
    path = re.search(r"^  octave comparison: (\S+)", out, re.M)
    assert path and Path(path.group(1)).is_file() and "recommended: 1/" in Path(path.group(1)).read_text()
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlflow/mlflow.db" in out
    # new recordings labelled by the champions (the corrupt one recorded, not fatal)
    inbox = re.search(r"^inbox: (\d+) of (\d+) new recordings labelled by (.+) \((\d+) failed\)", out, re.M)
    assert inbox and inbox.groups()[:2] == ("5", "6") and inbox.group(4) == "1"
    champions = catalog.query(home, "SELECT DISTINCT octave FROM predictions ORDER BY 1")["octave"].to_list()
    assert champions and set(champions) <= {1, 3, 6, 12, 24}
    assert all(f"sec-classifier-oct{n} v1" in inbox.group(3) for n in champions)
