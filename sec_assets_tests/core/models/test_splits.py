"""Splits: allocation per class, and no source file in two splits."""

import polars as pl

from sec_assets.core.models.splits import allocate, assign_segments


def test_split_allocation_and_no_file_in_two_splits():
    fractions = {"train": 0.6, "es": 0.1, "valid": 0.15, "test": 0.15}
    assert sum(allocate(10, fractions).values()) == 10 and allocate(10, fractions)["train"] == 6
    assert allocate(2, fractions)["train"] == 1 and allocate(2, fractions)["test"] == 1
    rows = [
        {"segment_key": f"{c}:{f}:{s}", "partition_key": c, "source_sha256": f"{c}{f}"}
        for c in "ab"
        for f in range(7)
        for s in range(3)
    ]
    out = assign_segments(pl.DataFrame(rows), fractions, seed=0)
    per_file = out.group_by("source_sha256").agg(pl.col("split").n_unique())
    assert per_file["split"].max() == 1
    again = assign_segments(pl.DataFrame(rows[::-1]), fractions, seed=0)
    assert out.sort("segment_key").equals(again.sort("segment_key"))  # order does not matter
