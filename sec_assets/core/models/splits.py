"""Train / early-stopping / validation / test splits cut per *source file*, stratified by class.

The predecessor cut splits per segment, so segments of one recording landed in both train and
test. Here every segment inherits the split of its source file (identified by content hash, so a
file copied into two classes still sits in one split), files are ordered within their class by a
stable hash of (seed, sha256) and allocated to splits by largest remainder, with at least one file
in train and one in test whenever a class has two or more files.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from sec_assets.core.hashing import stable_unit
from sec_assets.core.settings import SPLITS


def allocate(n_files: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """How many of ``n_files`` go to each split (largest remainder, train/test non-empty)."""
    raw = {s: n_files * fractions[s] for s in SPLITS}
    counts = {s: int(raw[s]) for s in SPLITS}
    by_remainder = sorted(SPLITS, key=lambda s: (-(raw[s] - counts[s]), SPLITS.index(s)))
    for s in by_remainder[: n_files - sum(counts.values())]:
        counts[s] += 1
    if n_files >= 2:
        for need in ("test", "train"):
            if counts[need] == 0:
                donor = max((s for s in SPLITS if s != need), key=lambda s: (counts[s], s == "train"))
                counts[donor] -= 1
                counts[need] += 1
    elif n_files == 1:
        counts = {s: int(s == "train") for s in SPLITS}
    return counts


def assign_files(files: pl.DataFrame, fractions: Mapping[str, float], seed: int) -> pl.DataFrame:
    """files(partition_key, source_sha256) → files + split, one split per sha256."""
    unique = files.select("partition_key", "source_sha256").unique().sort("partition_key", "source_sha256")
    first_class = unique.group_by("source_sha256").agg(pl.col("partition_key").min())
    rows = []
    for _, group in first_class.sort("partition_key").group_by("partition_key", maintain_order=True):
        shas = sorted(group["source_sha256"], key=lambda sha: (stable_unit(seed, "split", sha), sha))
        counts = allocate(len(shas), fractions)
        order = [s for s in SPLITS for _ in range(counts[s])]
        rows += [{"source_sha256": sha, "split": split} for sha, split in zip(shas, order, strict=True)]
    by_sha = pl.DataFrame(rows, schema={"source_sha256": pl.String, "split": pl.String})
    return unique.join(by_sha, on="source_sha256", how="left")


def assign_segments(segments: pl.DataFrame, fractions: Mapping[str, float], seed: int) -> pl.DataFrame:
    """segments(segment_key, partition_key, source_sha256) → + split (their file's split)."""
    files = assign_files(segments, fractions, seed)
    return segments.join(files.select("source_sha256", "split").unique(), on="source_sha256", how="left")
