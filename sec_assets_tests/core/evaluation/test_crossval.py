"""Cross-validation over official folds: the fold plan, the per-fold run (isolation of the test
fold, clean evaluation, selection on validation), the summary across folds, the paper table and
the plot. Data made here: 3 classes × 5 folds × 2 groups × 2 files, 2 windows per file, one
augmented variant per file."""

from __future__ import annotations

import io
import math

import numpy as np
import polars as pl
import pytest
from PIL import Image

from sec_assets.core.audio.splits import groups_in_two_splits
from sec_assets.core.evaluation.crossval import SELECTED, crossval_png, paper_table, summarise, t_interval
from sec_assets.core.models import crossval
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.crossval import CrossValData, FoldLeak, cross_validate, fold_plan
from sec_assets.core.models.data import SegmentData

FRACTIONS = {"train": 0.7, "es": 0.1, "valid": 0.1, "test": 0.1}
CLASSES = ["c0", "c1", "c2"]
FOLDS = [1, 2, 3, 4, 5]
FIT = {"learning_rate": 0.1, "epochs": 10, "patience": 3}
CANDIDATES = [
    Candidate.model_validate({"features": "clap", "head": "linear", "fit": FIT}),
    Candidate.model_validate({"features": "octave_stats", "head": "linear", "fit": FIT}),
]


def _files() -> pl.DataFrame:
    rows = []
    for c, cls in enumerate(CLASSES):
        for fold in FOLDS:
            for g in range(2):
                for f in range(2):
                    sha = f"{c}{fold}{g}{f}".ljust(64, "a")
                    rows.append(
                        {
                            "partition_key": cls,
                            "source_sha256": sha,
                            "group": f"g{c}-{fold}-{g}",
                            "fold": fold,
                        }
                    )
    return pl.DataFrame(rows)


def _segments(files: pl.DataFrame, seed: int = 0) -> CrossValData:
    """Per file two clean windows and an augmented variant of window 0 (a noisier copy)."""
    rng = np.random.default_rng(seed)
    keys, shas, labels, windows, augmented = [], [], [], [], []
    for cls, sha in files.select("partition_key", "source_sha256").iter_rows():
        for w in range(2):
            key = f"{cls}:{sha[:20]}:0:{w:05d}"
            keys.append(key)
            shas.append(sha)
            labels.append(CLASSES.index(cls))
            windows.append(key)
            augmented.append(False)
        keys.append(f"{cls}:{sha[:20]}:0:00000~aug")
        shas.append(sha)
        labels.append(CLASSES.index(cls))
        windows.append(f"{cls}:{sha[:20]}:0:00000")
        augmented.append(True)
    y = np.array(labels, dtype=np.int64)
    n = len(y)
    noise = np.where(np.array(augmented), 1.5, 1.0)[:, None]
    embedding = (rng.normal(0, 1, (n, 16)) * noise).astype(np.float32)
    embedding[np.arange(n), y] += 5.0
    levels = rng.normal(-60, 2, (n, 4, 3)).astype(np.float32)
    levels[np.arange(n), :, y] += 12.0
    data = SegmentData(
        segment_keys=keys,
        source_sha256=shas,
        splits=[""] * n,
        labels=y,
        classes=CLASSES,
        embedding=embedding,
        levels=levels,
        center_hz=[500.0, 1000.0, 2000.0],
    )
    return CrossValData(data, np.array(augmented), windows)


# --- the plan ----------------------------------------------------------------------------------------


def test_fold_plan_every_fold_is_the_test_fold_once_and_training_roles_are_stable():
    files = _files()
    plan = fold_plan(files, FRACTIONS, seed=7)
    assert plan.columns == list(crossval.PLAN_COLUMNS)
    assert plan.height == len(FOLDS) * files.height
    assert sorted(set(plan["test_fold"].to_list())) == FOLDS
    assert plan.equals(fold_plan(files, FRACTIONS, seed=7))  # deterministic
    # every file is tested exactly once: in the plan of its own fold
    tested = plan.filter(pl.col("split") == "test")
    assert tested.height == files.height
    assert (tested["test_fold"] == tested["fold"]).all()
    for _, part in plan.group_by("test_fold"):
        assert groups_in_two_splits(part).is_empty()  # groups whole within a fold's plan
    # carved: a file's train/es/valid role does not depend on which other fold is tested
    roles = plan.filter(pl.col("split") != "test").group_by("source_sha256").agg(pl.col("split").n_unique())
    assert (roles["split"] == 1).all()
    counts = plan.filter(pl.col("test_fold") == 2).group_by("split").len().sort("split").rows()
    assert counts == [("es", 2), ("test", 12), ("train", 40), ("valid", 6)]  # pinned (stable hashes)


def test_fold_plan_next_fold_validates():
    files = _files()
    plan = fold_plan(files, FRACTIONS, seed=7, valid="next")
    for k in FOLDS:
        part = plan.filter(pl.col("test_fold") == k)
        assert set(part.filter(pl.col("split") == "valid")["fold"].to_list()) == {k % 5 + 1}
        assert set(part.filter(pl.col("split") == "test")["fold"].to_list()) == {k}
    assert fold_plan(files, FRACTIONS, seed=7, folds=[2, 4])["test_fold"].unique().sort().to_list() == [2, 4]
    with pytest.raises(ValueError, match="three folds"):
        fold_plan(files.filter(pl.col("fold") <= 2), FRACTIONS, seed=7, valid="next")


# --- the run -----------------------------------------------------------------------------------------


def test_cross_validate_trains_per_fold_never_on_its_test_files(monkeypatch):
    files = _files()
    plan = fold_plan(files, FRACTIONS, seed=7)
    segments = _segments(files)
    seen: list[tuple[set[str], set[str]]] = []
    real = crossval.train_candidate

    def spy(candidate, train, es, seed):
        seen.append((set(train.source_sha256), set(es.source_sha256)))
        return real(candidate, train, es, seed)

    monkeypatch.setattr(crossval, "train_candidate", spy)
    models: list[int] = []
    per_fold = cross_validate(
        segments, plan, CANDIDATES, seed=3, octave=3, on_model=lambda k, m: models.append(k)
    )
    assert per_fold.columns == list(crossval.PER_FOLD_SCHEMA)
    assert per_fold.height == len(FOLDS) * len(CANDIDATES)
    assert per_fold["fold"].to_list() == [k for k in FOLDS for _ in CANDIDATES]
    assert per_fold["candidate"].to_list() == [c.id for c in CANDIDATES] * len(FOLDS)
    assert models == [k for k in FOLDS for _ in CANDIDATES]
    assert per_fold.group_by("fold").agg(pl.col("selected").sum())["selected"].to_list() == [1] * 5
    # the models trained for fold k never saw a file of fold k (nor were selected on one)
    for i, (train, es) in enumerate(seen):
        k = FOLDS[i // len(CANDIDATES)]
        test_files = set(files.filter(pl.col("fold") == k)["source_sha256"].to_list())
        assert not (train | es) & test_files
    # evaluation on clean segments only: 12 test files × 2 clean windows
    assert per_fold["test_files"].unique().to_list() == [12]
    assert per_fold["test_segments"].unique().to_list() == [24]
    # "augmented" view: window 0 of a training file is its variant, window 1 its clean cut
    assert (per_fold["train_segments"] == 2 * per_fold["train_files"]).all()
    assert (per_fold["valid_segments"] == 2 * per_fold["valid_files"]).all()
    assert per_fold["test_groups_in_training"].unique().to_list() == [0]
    assert per_fold["test_accuracy"].min() > 0.9  # the class signal is strong
    again = cross_validate(segments, plan.filter(pl.col("test_fold") == 2), CANDIDATES, seed=3, octave=3)
    same = per_fold.filter(pl.col("fold") == 2).drop("train_seconds")
    assert again.drop("train_seconds").equals(same)  # deterministic, and a fold alone = that fold


def test_train_views():
    files = _files()
    plan = fold_plan(files, FRACTIONS, seed=7, folds=[1])
    segments = _segments(files)
    one = CANDIDATES[:1]
    both = cross_validate(segments, plan, one, seed=3, octave=1, train_view="all")
    clean = cross_validate(segments, plan, one, seed=3, octave=1, train_view="clean")
    assert both["train_segments"].item() == 3 * both["train_files"].item()
    assert clean["train_segments"].item() == 2 * clean["train_files"].item()
    assert clean["test_segments"].item() == both["test_segments"].item() == 24
    plain = CrossValData.clean(segments.data.subset(~segments.augmented))  # clean features only
    clean_only = cross_validate(plain, plan, one, seed=3, octave=1)
    assert clean_only.drop("train_seconds").equals(clean.drop("train_seconds"))
    with pytest.raises(ValueError, match="train view"):
        cross_validate(segments, plan, one, seed=3, octave=1, train_view="noisy")  # type: ignore[arg-type]


def test_the_same_bytes_in_a_training_fold_are_a_leak():
    """A file copied under a second class in another fold: tested in its own fold, trained on as
    the copy — the isolation check refuses before anything is trained."""
    files = _files()
    dup = files.filter(pl.col("partition_key") == "c0").row(0, named=True)  # fold 1
    files = pl.concat([files, pl.DataFrame([{**dup, "partition_key": "c1", "fold": 2, "group": "copy"}])])
    plan = fold_plan(files, FRACTIONS, seed=7, folds=[1])
    assert set(plan.filter(pl.col("source_sha256") == dup["source_sha256"])["split"].to_list()) >= {"test"}
    with pytest.raises(FoldLeak, match="fold 1: 1 test file"):
        cross_validate(_segments(files), plan, CANDIDATES[:1], seed=3, octave=1)


# --- the summary -------------------------------------------------------------------------------------


def _per_fold(octaves=(1, 3), folds=FOLDS) -> pl.DataFrame:
    a = [0.70, 0.75, 0.80, 0.65, 0.72]
    b = [0.60, 0.62, 0.58, 0.70, 0.66]
    rows = []
    for octave in octaves:
        shift = 0.0 if octave == 1 else 0.1
        for i, fold in enumerate(folds):
            for name, acc, chosen in (("A", a[i], fold <= 3), ("B", b[i], fold > 3)):
                rows.append(
                    {
                        "octave": octave,
                        "fold": fold,
                        "candidate": name,
                        "selected": chosen,
                        "test_accuracy": acc + shift,
                        "test_balanced_accuracy": acc,
                        "test_macro_f1": acc - 0.1,
                        "test_macro_map": 0.9,
                    }
                )
    return pl.DataFrame(rows)


T4 = 2.7764451051977934  # t(0.975, 4 degrees of freedom); printed tables: 2.776


def test_summary_matches_hand_computation():
    summary = summarise(_per_fold())
    assert summary.select("octave", "candidate", "n_folds", "times_selected").rows() == [
        (1, "A", 5, 3),
        (1, "B", 5, 2),
        (1, SELECTED, 5, None),
        (3, "A", 5, 3),
        (3, "B", 5, 2),
        (3, SELECTED, 5, None),
    ]
    a = summary.row(0, named=True)
    # A: 0.70 0.75 0.80 0.65 0.72 → mean 3.62 / 5; squared deviations sum to 0.01252
    std = math.sqrt(0.01252 / 4)
    assert a["accuracy_mean"] == pytest.approx(0.724, abs=1e-12)
    assert a["accuracy_std"] == pytest.approx(std, abs=1e-12) == pytest.approx(0.0559464029, abs=1e-10)
    assert a["accuracy_ci_low"] == pytest.approx(0.724 - T4 * std / math.sqrt(5), abs=1e-12)
    assert a["accuracy_ci_high"] == pytest.approx(0.7934666343, abs=1e-10)
    assert a["macro_f1_mean"] == pytest.approx(0.624, abs=1e-12)
    assert a["macro_map_std"] == pytest.approx(0.0, abs=1e-12)
    assert a["macro_map_ci_low"] == pytest.approx(0.9) and a["macro_map_ci_high"] == pytest.approx(0.9)
    # selected per fold: A in folds 1–3, B in 4–5 → 0.70 0.75 0.80 0.70 0.66
    sel = summary.row(2, named=True)
    assert sel["accuracy_mean"] == pytest.approx(0.722, abs=1e-12)
    assert sel["accuracy_std"] == pytest.approx(math.sqrt(0.01168 / 4), abs=1e-12)
    assert sel["accuracy_ci_high"] == pytest.approx(0.7890958276, abs=1e-9)
    assert summary.row(3, named=True)["accuracy_mean"] == pytest.approx(0.824, abs=1e-12)  # octave 3 shift
    assert t_interval([0.5]) == (0.5, None, None, None)


def test_summary_of_one_fold_has_no_interval_and_two_selected_is_refused():
    one = summarise(_per_fold(octaves=(1,), folds=[2]))
    assert one["n_folds"].to_list() == [1, 1, 1]
    assert one["accuracy_std"].null_count() == 3 and one["accuracy_ci_low"].null_count() == 3
    table = paper_table(one)
    assert "| A | **70.0** |\n| B | 60.0 |" in table.markdown and "One fold" in table.markdown
    bad = _per_fold().with_columns(pl.lit(True).alias("selected"))
    with pytest.raises(ValueError, match="2 candidates selected"):
        summarise(bad)


def test_paper_table_rows_candidates_columns_resolutions():
    per_fold = _per_fold()
    # candidate B lacks fold 5 at octave 3: its cell says so
    gone = (pl.col("octave") == 3) & (pl.col("fold") == 5)
    per_fold = per_fold.filter(~(gone & (pl.col("candidate") == "B"))).with_columns(
        pl.when(gone).then(True).otherwise(pl.col("selected")).alias("selected")  # A chosen instead
    )
    table = paper_table(summarise(per_fold))
    lines = table.markdown.splitlines()
    assert lines[0] == "| model | 1/1 | 1/3 |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| A | **72.4 ± 5.6** | **82.4 ± 5.6** |"
    assert lines[3] == "| B | 63.2 ± 4.8 | 72.5 ± 5.3 (k = 4) |"  # 0.70 0.72 0.68 0.80
    assert lines[4] == f"| {SELECTED} | 72.2 ± 5.4 | 83.4 ± 4.2 |"  # fold 5 at 1/3: A
    note = lines[6]
    assert "k = 5 folds" in note and "mean ± 1.24 × the cell's ±" in note and "k − 1 = 4" in note
    csv = pl.read_csv(io.StringIO(table.csv))
    assert csv.columns == ["model", "1/1", "1/3"]
    assert csv.rows() == [
        ("A", "72.4 ± 5.6", "82.4 ± 5.6"),
        ("B", "63.2 ± 4.8", "72.5 ± 5.3 (k = 4)"),
        (SELECTED, "72.2 ± 5.4", "83.4 ± 4.2"),
    ]
    f1 = paper_table(summarise(_per_fold()), statistic="macro_f1", percent=False, digits=3)
    assert "| A | **0.624 ± 0.056** |" in f1.markdown and "Test macro-F1 by bands" in f1.markdown


def test_crossval_png_is_a_deterministic_image():
    summary = summarise(_per_fold())
    png = crossval_png(summary)
    assert png == crossval_png(summary)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (650, 420)
    assert crossval_png(summarise(_per_fold(folds=[1])))[:8] == b"\x89PNG\r\n\x1a\n"  # no error bars
