"""Train / early-stopping / validation / test splits of *source files*, decided before segmentation.

The predecessor cut splits per segment, so segments of one recording landed in both train and
test. Here every file gets one split and its segments inherit it. The split is the file's own
draw: ``stable_unit(seed, "split", sha256)`` against the cumulative ``split_fractions`` (in the
order train, es, valid, test). It depends on the file's content hash and the seed only, so

- it is known from the manifest, before any segment exists (valid and test segments are cut
  clean, without augmentation: see :mod:`sec_assets.core.audio.segments`);
- adding recordings to a class never moves an existing one to another split (a model's test set
  stays its test set; the training campaigns compare models on it);
- the same bytes copied into two classes get the same draw.

Class proportions are met in expectation, not exactly. So that a small class still trains and is
tested, a class with two or more files whose draws leave ``test`` (or ``train``) empty has the
file drawn closest to that split moved into it (highest draw → test, lowest → train), taken from
a split that keeps a file; a one-file class trains. Such a move depends on the class's other
files, so it happens only where a class is that small, and the metadata says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from sec_assets.core.hashing import stable_hex, stable_unit

SPLITS = ("train", "es", "valid", "test")  # es: the early-stopping split, drawn from the training files
AUGMENTED_SPLITS = ("train", "es")  # segments of these files are augmented; valid/test are clean


def draw(sha256: str, seed: int) -> float:
    """A file's split draw in [0, 1): its content hash and the seed, nothing else."""
    return stable_unit(seed, "split", sha256)


def split_of(u: float, fractions: Mapping[str, float]) -> str:
    """The split whose cumulative fraction interval holds ``u``."""
    edge = 0.0
    for s in SPLITS:
        edge += fractions[s]
        if u < edge and fractions[s] > 0:
            return s
    return max((s for s in SPLITS if fractions[s] > 0), key=SPLITS.index)  # rounding at u ≈ 1


def class_splits(shas: list[str], fractions: Mapping[str, float], seed: int) -> tuple[dict[str, str], int]:
    """Split of every file of one class, and how many files a small-class fix-up moved."""
    u = {sha: draw(sha, seed) for sha in shas}
    split = {sha: split_of(u[sha], fractions) for sha in shas}
    moved = 0
    if len(shas) == 1:
        return {shas[0]: "train"}, int(split[shas[0]] != "train")
    for need, pick in (("test", max), ("train", min)):
        counts = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
        if counts[need] == 0:
            # never the last file of train or test; es and valid may be emptied
            donors = [sha for sha in shas if counts[split[sha]] > 1 or split[sha] in ("es", "valid")]
            chosen = pick(donors, key=lambda sha: (u[sha], sha))
            split[chosen] = need
            moved += 1
    return split, moved


def assign_files(
    files: pl.DataFrame, fractions: Mapping[str, float], seed: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """files(partition_key, source_sha256) → one row per (class, file) + split; and the moves per
    class (classes where the small-class fix-up applied)."""
    unique = files.select("partition_key", "source_sha256").unique().sort("partition_key", "source_sha256")
    rows, moves = [], {}
    for (key,), group in unique.group_by("partition_key", maintain_order=True):
        splits, moved = class_splits(group["source_sha256"].to_list(), fractions, seed)
        rows += [{"partition_key": key, "source_sha256": sha, "split": s} for sha, s in splits.items()]
        if moved:
            moves[str(key)] = moved
    schema = {"partition_key": pl.String, "source_sha256": pl.String, "split": pl.String}
    return pl.DataFrame(rows, schema=schema).sort("partition_key", "source_sha256"), moves


def files_in_two_splits(assigned: pl.DataFrame) -> pl.DataFrame:
    """source_sha256 → the splits of every file that is in more than one (must be empty)."""
    return (
        assigned.group_by("source_sha256")
        .agg(pl.col("split").unique().sort().alias("splits"), pl.col("partition_key").unique().sort())
        .filter(pl.col("splits").list.len() > 1)
        .sort("source_sha256")
    )


def fingerprint(assigned: pl.DataFrame, classes: Sequence[str], splits: Sequence[str] = SPLITS) -> str:
    """A stable id of which files of ``classes`` are in ``splits`` (order-free): two models with the
    same test-set fingerprint were tested on the same recordings of the same classes."""
    rows = (
        assigned.filter(pl.col("partition_key").is_in(list(classes)) & pl.col("split").is_in(list(splits)))
        .select("partition_key", "source_sha256", "split")
        .unique()
        .sort("partition_key", "source_sha256", "split")
        .rows()
    )
    return stable_hex("splits", tuple(sorted(classes)), tuple(splits), tuple(rows), size=8)
