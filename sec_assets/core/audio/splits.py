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

**Groups.** Files cut from one recording, or spoken by one speaker, are near-duplicates; drawn
each on its own they land in train and test and the held-out figures measure memory.
:func:`assign_groups` draws the split per *group* instead — ``stable_unit(seed, "split-group",
group)`` against the same fractions — so every file of a group shares one split, and adding files
or groups never moves an existing group (except through the small-class fix-up below). Files
without a group keep their own file draw. :func:`assign_folds` follows official folds: the test
fold is the test split, and validation / early stopping are carved from the training folds by the
same group draw. :func:`groups_in_two_splits` is the proof that no group straddles splits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


# --- groups -----------------------------------------------------------------------------------------

Unit = tuple[str, str]  # ("group", name) or ("file", sha256): what one split draw decides


def group_draw(group: str, seed: int) -> float:
    """A group's split draw in [0, 1): its name and the seed, nothing else (not its files)."""
    return stable_unit(seed, "split-group", group)


def _unit_draw(unit: Unit, seed: int) -> float:
    kind, name = unit
    return group_draw(name, seed) if kind == "group" else draw(name, seed)


@dataclass(frozen=True)
class GroupMoves:
    """What the small-class fix-up of :func:`assign_groups` did, for the asset's metadata.

    ``moved``: class → the moves its fix-up made, as ``"<group or file> → <split>"`` (a group is
    moved for every class it is in). ``unmet``: class → ``train``/``test`` it still lacks because
    its groups do not allow it (one group only, or every move would empty another class's train or
    test). Both empty when every class got train and test from the draws alone.
    """

    moved: dict[str, tuple[str, ...]]
    unmet: dict[str, tuple[str, ...]]


def _file_groups(files: pl.DataFrame) -> pl.DataFrame:
    """(partition_key, source_sha256, group) with one group per file content: the smallest non-null
    group its rows give (the same bytes listed under two groups still get one split)."""
    files = files.with_columns(pl.col("group").cast(pl.String))  # an all-null column may come typed Null
    pairs = files.select("partition_key", "source_sha256").unique()
    groups = files.group_by("source_sha256").agg(pl.col("group").drop_nulls().min())
    return pairs.join(groups, on="source_sha256", how="left").sort("partition_key", "source_sha256")


def _unit(sha: str, group: str | None) -> Unit:
    return ("group", group) if group is not None else ("file", sha)


def assign_groups(
    files: pl.DataFrame, fractions: Mapping[str, float], seed: int
) -> tuple[pl.DataFrame, GroupMoves]:
    """files(partition_key, source_sha256, group) → one row per (class, file) + group + split: the
    split of the file's group (its own draw), or of the file when its group is null.

    *Stratified by class as far as the groups allow*, and no further: the group draw does not look
    at classes, so a class spread over many groups meets the fractions in expectation, while a
    class whose files come from a few groups gets the proportions of those few draws (FSDD's
    speakers span every digit, so with 6 speakers every class has the same 6-way partition). The
    one class-aware step is today's small-class fix-up applied to whole units: a class with two or
    more units (groups, or ungrouped files) whose draws leave ``test`` (then ``train``) empty gets
    the unit drawn closest to it moved in (highest draw → test, lowest → train), taken from a
    split where the class keeps a unit or from es/valid, and **only if the move leaves no other
    class containing that group without its train or test**; a one-unit class is moved to train
    under the same proviso. Classes are visited in key order. A move depends on the class's other
    units, so adding groups can undo one (the stability promise holds for drawn splits, not
    fixed-up ones); every move and every class left without train or test is in the returned
    :class:`GroupMoves`. Exact per-class proportions would need a group-to-split optimisation
    whose answer changes when one group is added — the stability is worth more.
    """
    resolved = _file_groups(files)
    unit_of = {
        (key, sha): _unit(sha, group)
        for key, sha, group in resolved.select("partition_key", "source_sha256", "group").iter_rows()
    }
    class_units: dict[str, set[Unit]] = {}
    unit_classes: dict[Unit, set[str]] = {}
    for (key, _), unit in unit_of.items():
        class_units.setdefault(key, set()).add(unit)
        unit_classes.setdefault(unit, set()).add(key)
    u = {unit: _unit_draw(unit, seed) for unit in unit_classes}
    split = {unit: split_of(u[unit], fractions) for unit in unit_classes}

    def counts(key: str) -> dict[str, int]:
        return {s: sum(1 for unit in class_units[key] if split[unit] == s) for s in SPLITS}

    def frees(unit: Unit, key: str) -> bool:
        """Moving ``unit`` leaves every *other* class that holds it its train and test."""
        here = split[unit]
        return here not in ("train", "test") or all(
            counts(other)[here] > 1 for other in unit_classes[unit] if other != key
        )

    moved: dict[str, list[str]] = {}
    for key in sorted(class_units):
        units = sorted(class_units[key])
        needs = (("test", max), ("train", min)) if len(units) > 1 else (("train", min),)
        for need, pick in needs:
            now = counts(key)
            if now[need]:
                continue
            donors = [
                unit
                for unit in units
                if (len(units) == 1 or now[split[unit]] > 1 or split[unit] in ("es", "valid"))
                and frees(unit, key)
            ]
            if donors:
                chosen = pick(donors, key=lambda unit: (u[unit], unit))
                split[chosen] = need
                moved.setdefault(key, []).append(f"{chosen[1]} → {need}")
    unmet = {
        key: tuple(s for s in ("train", "test") if not counts(key)[s])
        for key in sorted(class_units)
        if not (counts(key)["train"] and counts(key)["test"])
    }
    assigned = resolved.with_columns(
        pl.Series(
            "split",
            [
                split[unit_of[(k, sha)]]
                for k, sha in resolved.select("partition_key", "source_sha256").iter_rows()
            ],
            dtype=pl.String,
        )
    )
    return assigned, GroupMoves({k: tuple(v) for k, v in moved.items()}, unmet)


def assign_class_grouped(
    files: pl.DataFrame, index: pl.DataFrame, fractions: Mapping[str, float], seed: int
) -> tuple[pl.DataFrame, GroupMoves]:
    """The splits of ONE class's files(partition_key, source_sha256, group) when its step runs
    alone (one partition), consistent with every other class's own run.

    ``index`` holds the (partition_key, group) pairs of every class of the dataset (the table's,
    or the catalogued manifests'). A group's split — drawn, or moved by the small-class fix-up —
    is decided by :func:`assign_groups` over that whole index, groups only, so every class that
    shares a group computes the same split for it whichever class's step runs first. Files without
    a group then get their own draw, and, if the class still has no ``test`` (then ``train``), the
    fix-up moves one of them (never the last one of a split). Returns the class's rows and its
    moves and unmet needs (other classes' are reported by their own steps).
    """
    keys = files["partition_key"].unique().to_list()
    if len(keys) != 1:
        raise ValueError(f"assign_class_grouped takes one class's files, got {len(keys)} classes")
    key = str(keys[0])
    resolved = _file_groups(files)
    pairs = (
        pl.concat(
            [
                index.select(pl.col("partition_key").cast(pl.String), pl.col("group").cast(pl.String)),
                resolved.select("partition_key", "group"),
            ]
        )
        .drop_nulls()
        .unique()
    )
    pseudo = pairs.with_columns(("group:" + pl.col("group")).alias("source_sha256"))
    by_group, group_moves = assign_groups(pseudo, fractions, seed)
    split_of_group = dict(zip(by_group["group"], by_group["split"], strict=True))
    split = {
        sha: split_of_group[group] if group is not None else split_of(draw(sha, seed), fractions)
        for sha, group in resolved.select("source_sha256", "group").iter_rows()
    }
    loose = sorted(
        sha for sha, group in resolved.select("source_sha256", "group").iter_rows() if group is None
    )
    moved = list(group_moves.moved.get(key, ()))
    if len(split) > 1:
        for need, pick in (("test", max), ("train", min)):
            counts = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
            if counts[need]:
                continue
            donors = [sha for sha in loose if counts[split[sha]] > 1 or split[sha] in ("es", "valid")]
            if donors:
                chosen = pick(donors, key=lambda sha: (draw(sha, seed), sha))
                split[chosen] = need
                moved.append(f"{chosen} → {need}")
    elif loose:
        split[loose[0]] = "train"
    counts = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
    unmet = {key: tuple(s for s in ("train", "test") if not counts[s])} if split else {}
    unmet = {k: v for k, v in unmet.items() if v}
    assigned = resolved.with_columns(
        pl.Series("split", [split[sha] for sha in resolved["source_sha256"]], dtype=pl.String)
    )
    return assigned, GroupMoves({key: tuple(moved)} if moved else {}, unmet)


def assign_folds(
    files: pl.DataFrame,
    test_fold: int,
    valid_fold: int | None,
    fractions: Mapping[str, float],
    seed: int,
) -> pl.DataFrame:
    """files(partition_key, source_sha256, group, fold) → one row per (class, file) + group + fold
    + split, following official folds.

    The test fold is the test split, exactly. Validation is ``valid_fold`` when given; otherwise it
    is carved from the training folds, like early stopping, **by group**: the group's draw (or the
    file's, without a group) against the train/es/valid fractions renormalised over those three
    (over train/es when ``valid_fold`` is given). No small-class fix-up: the folds are the
    protocol, and a class absent from the test fold is the dataset's, not ours to repair. A file
    keeps its fold even when its group sits in another fold too (ESC-50's quirk: see
    :mod:`sec_assets.core.datasets.groups`); that group then straddles splits and
    :func:`groups_in_two_splits` names it. A file without a fold is an error naming it.
    """
    rows = files.select("partition_key", "source_sha256", "group", "fold").unique()
    missing = rows.filter(pl.col("fold").is_null()).sort("partition_key", "source_sha256")
    if missing.height:
        first = missing.row(0, named=True)
        raise ValueError(
            f"file {first['source_sha256']} of class {first['partition_key']!r} has no fold"
            f"{f' ({missing.height - 1} more files have none)' if missing.height > 1 else ''}: "
            "following official folds, every file needs one"
        )
    twice = (
        rows.group_by("partition_key", "source_sha256")
        .agg(pl.col("fold").unique().sort())
        .filter(pl.col("fold").list.len() > 1)
    )
    if twice.height:
        first = twice.sort("partition_key", "source_sha256").row(0, named=True)
        raise ValueError(
            f"file {first['source_sha256']} of class {first['partition_key']!r} is in folds {first['fold']}: "
            "a file has one fold"
        )
    folds = set(rows["fold"].to_list())
    if test_fold not in folds:
        raise ValueError(f"test_fold {test_fold} is not a fold of the table (folds: {sorted(folds)})")
    if valid_fold is not None and (valid_fold == test_fold or valid_fold not in folds):
        raise ValueError(
            f"valid_fold {valid_fold} must be a fold of the table other than test_fold {test_fold} "
            f"(folds: {sorted(folds)})"
        )
    carved = ("train", "es") if valid_fold is not None else ("train", "es", "valid")
    total = sum(fractions[s] for s in carved)
    if total <= 0:
        raise ValueError(f"split fractions of {', '.join(carved)} sum to 0: nothing to train on")
    renormalised = {s: fractions[s] / total if s in carved else 0.0 for s in SPLITS}
    resolved = _file_groups(rows).join(
        rows.select("partition_key", "source_sha256", "fold").unique(), on=["partition_key", "source_sha256"]
    )

    def split_for(sha: str, group: str | None, fold: int) -> str:
        if fold == test_fold:
            return "test"
        if fold == valid_fold:
            return "valid"
        return split_of(_unit_draw(_unit(sha, group), seed), renormalised)

    splits = [split_for(*r) for r in resolved.select("source_sha256", "group", "fold").iter_rows()]
    return resolved.with_columns(pl.Series("split", splits, dtype=pl.String)).sort(
        "partition_key", "source_sha256"
    )


def groups_in_two_splits(assigned: pl.DataFrame) -> pl.DataFrame:
    """group → its splits and classes, for every group in more than one split (must be empty; the
    ``no_group_in_two_splits`` check). Rows without a group are the file check's business."""
    return (
        assigned.filter(pl.col("group").is_not_null())
        .group_by("group")
        .agg(pl.col("split").unique().sort().alias("splits"), pl.col("partition_key").unique().sort())
        .filter(pl.col("splits").list.len() > 1)
        .sort("group")
    )
