"""Splits of source files: the file's own draw, stable when files are added, small classes covered,
and the leakage detector."""

import hashlib

import polars as pl
import pytest

from sec_assets.core.audio.splits import (
    GroupMoves,
    assign_files,
    assign_folds,
    assign_groups,
    class_splits,
    draw,
    files_in_two_splits,
    group_draw,
    groups_in_two_splits,
    split_of,
)
from sec_assets.core.datasets.groups import compile_group_pattern, group_of, groups_in_two_folds
from sec_assets.core.datasets.table import read_dataset_table
from sec_assets.core.hashing import file_sha256
from sec_assets.testing.dataset_tables import (
    ESC50_COLUMNS,
    FSDD_PATTERN,
    FSDD_SPEAKERS,
    QUIRK_GROUPS,
    fsdd_names,
    write_esc50_like,
)

FRACTIONS = {"train": 0.6, "es": 0.1, "valid": 0.15, "test": 0.15}


def _shas(prefix: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest() for i in range(n)]


def test_a_files_split_is_its_own_draw_and_never_moves_when_files_are_added():
    shas = _shas("big", 400)
    first, moved = class_splits(shas[:300], FRACTIONS, seed=0)
    grown, moved_grown = class_splits(shas, FRACTIONS, seed=0)
    assert moved == moved_grown == 0
    assert all(grown[sha] == first[sha] for sha in shas[:300])  # 100 new files moved none
    assert all(first[sha] == split_of(draw(sha, 0), FRACTIONS) for sha in shas[:300])
    shares = {s: sum(v == s for v in grown.values()) / 400 for s in FRACTIONS}
    assert all(abs(shares[s] - FRACTIONS[s]) < 0.05 for s in FRACTIONS), shares
    other_seed, _ = class_splits(shas, FRACTIONS, seed=1)
    assert sum(other_seed[sha] != grown[sha] for sha in shas) > 100  # another seed, another split


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 8])
def test_small_classes_always_train_and_test(n):
    for prefix in "abcdefghij":
        splits, _ = class_splits(_shas(prefix, n), FRACTIONS, seed=0)
        assert "train" in splits.values() and "test" in splits.values(), (prefix, n, splits)
    assert class_splits(_shas("one", 1), FRACTIONS, seed=0)[0] == {_shas("one", 1)[0]: "train"}


def test_assignment_is_per_file_and_order_free_and_detects_a_crafted_leak():
    rows = [{"partition_key": c, "source_sha256": sha} for c in "ab" for sha in _shas(c, 30)]
    assigned, _ = assign_files(pl.DataFrame(rows), FRACTIONS, seed=0)
    again, _ = assign_files(pl.DataFrame(rows[::-1]), FRACTIONS, seed=0)
    assert assigned.equals(again) and assigned.height == 60
    assert files_in_two_splits(assigned).is_empty()
    # the same bytes in two classes: one draw, one split
    shared = _shas("a", 30)[0]
    both, _ = assign_files(
        pl.DataFrame([*rows, {"partition_key": "b", "source_sha256": shared}]), FRACTIONS, 0
    )
    assert both.filter(pl.col("source_sha256") == shared)["split"].n_unique() == 1
    crafted = assigned.with_columns(
        pl.when(pl.col("source_sha256") == shared).then(pl.lit("x")).otherwise(pl.col("split")).alias("split")
    ).vstack(assigned.filter(pl.col("source_sha256") == shared))
    leak = files_in_two_splits(crafted)
    assert leak["source_sha256"].to_list() == [shared] and len(leak["splits"][0]) == 2


# --- groups and official folds ---------------------------------------------------------------------


def _grouped(spec: dict[str, list[tuple[str, str | None]]]) -> pl.DataFrame:
    """class → [(file name, group)] as the files frame (the sha is the name's hash)."""
    rows = [
        {"partition_key": c, "source_sha256": hashlib.sha256(name.encode()).hexdigest(), "group": g}
        for c, files in spec.items()
        for name, g in files
    ]
    return pl.DataFrame(
        rows, schema={"partition_key": pl.String, "source_sha256": pl.String, "group": pl.String}
    )


def _fsdd(speakers=FSDD_SPEAKERS) -> pl.DataFrame:
    compiled = compile_group_pattern(FSDD_PATTERN)
    return _grouped(
        {
            str(d): [(n, group_of(n, compiled)) for n in fsdd_names(speakers) if n[0] == str(d)]
            for d in range(10)
        }
    )


def test_a_groups_split_is_its_own_draw_and_ungrouped_files_keep_the_file_draw():
    spec = {
        c: [(f"{c}{i}", f"rec{i % 40}") for i in range(200)] + [(f"{c}-loose{i}", None) for i in range(50)]
        for c in "ab"
    }
    assigned, moves = assign_groups(_grouped(spec), FRACTIONS, seed=0)
    assert moves == GroupMoves({}, {}) and assigned.height == 500
    grouped = assigned.filter(pl.col("group").is_not_null())
    for group, split in grouped.select("group", "split").unique().iter_rows():
        assert split == split_of(group_draw(group, 0), FRACTIONS)
    assert groups_in_two_splits(assigned).is_empty()
    loose = assigned.filter(pl.col("group").is_null())
    assert all(
        s == split_of(draw(sha, 0), FRACTIONS)
        for sha, s in loose.select("source_sha256", "split").iter_rows()
    )
    again, _ = assign_groups(_grouped(spec).reverse(), FRACTIONS, seed=0)
    assert again.equals(assigned)  # order-free
    # pinned: 40 groups by their draws, 100 ungrouped files by theirs
    counts = dict(assigned["split"].value_counts().iter_rows())
    assert counts == {"train": 323, "es": 22, "valid": 60, "test": 95}


def test_fsdd_speakers_never_straddle_splits_and_a_new_speaker_moves_no_file():
    six, moves = assign_groups(_fsdd(), FRACTIONS, seed=0)
    assert moves == GroupMoves({}, {}) and six.height == 300
    assert groups_in_two_splits(six).is_empty()
    by_speaker = dict(six.select("group", "split").unique().iter_rows())
    assert by_speaker == {  # pinned: seed 0's six draws
        "george": "test",
        "jackson": "test",
        "lucas": "valid",
        "nicolas": "es",
        "theo": "valid",
        "yweweler": "train",
    }
    seven, _ = assign_groups(_fsdd((*FSDD_SPEAKERS, "zoe")), FRACTIONS, seed=0)
    kept = seven.join(six, on=["partition_key", "source_sha256"], suffix="_before")
    assert kept.height == 300 and (kept["split"] == kept["split_before"]).all()
    assert groups_in_two_splits(seven).is_empty()


def test_the_small_class_fix_up_moves_whole_groups_and_says_so():
    # seed 2 draws no FSDD speaker into test: the one drawn closest (george, 0.84) is moved, for every digit
    assigned, moves = assign_groups(_fsdd(), FRACTIONS, seed=2)
    assert moves == GroupMoves({"0": ("george → test",)}, {})
    assert groups_in_two_splits(assigned).is_empty()
    assert set(assigned.filter(pl.col("group") == "george")["split"]) == {"test"}
    for _, part in assigned.group_by("partition_key"):
        assert {"train", "test"} <= set(part["split"])


def test_a_move_that_would_empty_another_class_is_refused_and_reported():
    # find a group drawn into test and a group drawn into train, seed 0
    names = [f"g{i}" for i in range(200)]
    test_g = next(g for g in names if split_of(group_draw(g, 0), FRACTIONS) == "test")
    train_g = next(g for g in names if split_of(group_draw(g, 0), FRACTIONS) == "train")
    spec = {
        "a": [("a1", train_g), ("a2", train_g)],  # a lacks test; its only group trains
        "b": [("b1", test_g)],  # b: one group, in test; moving it to train would leave nothing else
        "c": [("c1", test_g), ("c2", train_g)],  # c's test is test_g alone: it may not be taken
    }
    assigned, moves = assign_groups(_grouped(spec), FRACTIONS, seed=0)
    assert moves.moved == {} and moves.unmet == {"a": ("test",), "b": ("train",)}
    assert groups_in_two_splits(assigned).is_empty()
    # a one-group class trains when nothing else depends on its group
    alone, moves = assign_groups(_grouped({"d": [("d1", test_g), ("d2", test_g)]}), FRACTIONS, seed=0)
    assert set(alone["split"]) == {"train"} and moves.moved == {"d": (f"{test_g} → train",)}
    assert moves.unmet == {"d": ("test",)}


def _esc50(tmp_path) -> tuple[pl.DataFrame, pl.DataFrame]:
    table, audio = write_esc50_like(tmp_path)
    read = read_dataset_table(table, ESC50_COLUMNS, audio)
    assert read.failures.is_empty() and read.rows.height == 20 * 20 + 4
    files = read.rows.select(
        pl.col("label").alias("partition_key"),
        pl.col("path")
        .map_elements(lambda p: file_sha256(audio / p), return_dtype=pl.String)
        .alias("source_sha256"),
        "group",
        "fold",
    )
    return read.rows, files


def test_esc50_shaped_table_official_folds_are_followed_exactly(tmp_path):
    rows, files = _esc50(tmp_path)
    assigned = assign_folds(files, test_fold=1, valid_fold=None, fractions=FRACTIONS, seed=0)
    assert assigned.height == 404 and files_in_two_splits(assigned).is_empty()
    test = assigned.filter(pl.col("split") == "test")
    assert test.equals(assigned.filter(pl.col("fold") == 1))  # the test split is fold 1, exactly
    assert set(assigned.filter(pl.col("fold") != 1)["split"]) == {"train", "es", "valid"}
    # no src_file in two splits but the quirk that spans the test fold, reported as published
    assert groups_in_two_splits(assigned)["group"].to_list() == ["900001"]
    assert groups_in_two_folds(rows)["group"].to_list() == list(QUIRK_GROUPS)
    # pinned: 81 test clips (fold 1: 80 + a quirk take); es/valid carved by recording from folds 2–5
    counts = dict(assigned["split"].value_counts().iter_rows())
    assert counts == {"test": 81, "train": 224, "es": 33, "valid": 66}
    with_valid = assign_folds(files, test_fold=1, valid_fold=2, fractions=FRACTIONS, seed=0)
    assert with_valid.filter(pl.col("split") == "valid").equals(with_valid.filter(pl.col("fold") == 2))
    assert set(with_valid.filter(pl.col("fold") > 2)["split"]) == {"train", "es"}
    # the carve is by recording: the train/es/valid side of one src_file is one split
    training = assigned.filter(pl.col("fold") != 1)
    assert groups_in_two_splits(training).is_empty()


def test_esc50_shaped_table_without_folds_groups_a_recording_whatever_its_labels(tmp_path):
    _, files = _esc50(tmp_path)
    assigned, moves = assign_groups(files.drop("fold"), FRACTIONS, seed=0)
    assert groups_in_two_splits(assigned).is_empty()  # quirk groups too: one recording, one split
    for group in QUIRK_GROUPS:
        assert assigned.filter(pl.col("group") == group)["partition_key"].n_unique() == 2
    assert moves.unmet == {}
    # pinned: 242 recordings by their own draws (154 train, 13 es, 28 valid, 47 test)
    assert dict(assigned["split"].value_counts().iter_rows()) == {
        "train": 262,
        "es": 23,
        "valid": 44,
        "test": 75,
    }


def test_the_leak_check_names_a_group_in_two_splits(tmp_path):
    _, files = _esc50(tmp_path)
    assigned = assign_folds(files, test_fold=3, valid_fold=None, fractions=FRACTIONS, seed=0)
    assert groups_in_two_splits(assigned)["group"].to_list() == ["900002"]  # the quirk spanning fold 3
    victim = assigned.filter(pl.col("group") == "100002").row(0, named=True)  # a 2-take recording of fold 2
    leaked = assigned.with_columns(
        pl.when(pl.col("source_sha256") == victim["source_sha256"])
        .then(pl.lit("test"))
        .otherwise(pl.col("split"))
        .alias("split")
    )
    leak = groups_in_two_splits(leaked)
    assert leak["group"].to_list() == ["100002", "900002"]
    assert leak.filter(pl.col("group") == "100002")["splits"].to_list()[0] == sorted(
        {victim["split"], "test"}
    )


def test_folds_are_required_and_checked():
    files = _grouped({"a": [("a1", "r1"), ("a2", "r2")]}).with_columns(
        pl.Series("fold", [1, None], dtype=pl.Int64)
    )
    with pytest.raises(ValueError, match=r"file [0-9a-f]{64} of class 'a' has no fold"):
        assign_folds(files, test_fold=1, valid_fold=None, fractions=FRACTIONS, seed=0)
    ok = files.with_columns(pl.Series("fold", [1, 2], dtype=pl.Int64))
    with pytest.raises(ValueError, match="test_fold 3 is not a fold"):
        assign_folds(ok, test_fold=3, valid_fold=None, fractions=FRACTIONS, seed=0)
    with pytest.raises(ValueError, match="valid_fold 1 must be a fold"):
        assign_folds(ok, test_fold=1, valid_fold=1, fractions=FRACTIONS, seed=0)
    twice = pl.concat([ok, ok.head(1).with_columns(pl.lit(2, pl.Int64).alias("fold"))])
    with pytest.raises(ValueError, match=r"is in folds \[1, 2\]"):
        assign_folds(twice, test_fold=1, valid_fold=None, fractions=FRACTIONS, seed=0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 30])
def test_without_groups_the_assignment_is_todays_per_file_draw_fix_ups_included(n):
    rows = [
        {"partition_key": c, "source_sha256": sha, "group": None}
        for c in "abcdefgh"
        for sha in _shas(c * 2, n)
    ]
    files = pl.DataFrame(
        rows, schema={"partition_key": pl.String, "source_sha256": pl.String, "group": pl.String}
    )
    grouped, moves = assign_groups(files, FRACTIONS, seed=0)
    today, today_moves = assign_files(files.drop("group"), FRACTIONS, seed=0)
    assert grouped.drop("group").equals(today)
    assert {k: len(v) for k, v in moves.moved.items()} == today_moves
