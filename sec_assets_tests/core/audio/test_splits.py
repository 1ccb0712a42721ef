"""Splits of source files: the file's own draw, stable when files are added, small classes covered,
and the leakage detector."""

import hashlib

import polars as pl
import pytest

from sec_assets.core.audio.splits import assign_files, class_splits, draw, files_in_two_splits, split_of

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
