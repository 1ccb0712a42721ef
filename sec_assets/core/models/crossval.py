"""Cross-validation over official folds: every fold is the test fold once, with models trained for
that fold alone, on features computed once and shared by every fold (k folds cost one feature pass
and k trainings). Pure: data in, a tidy frame out; registering, storing and plotting are the
caller's (:mod:`sec_assets.core.evaluation.crossval` summarises the frame into a paper's table).

**The plan** (:func:`fold_plan`): for each test fold k, every file's split by
:func:`~sec_assets.core.audio.splits.assign_folds` with ``test_fold=k``. Validation is either

- ``"carved"`` (the default): validation and early stopping are carved *by group* from the other
  folds — the group's draw (or the file's, without a group) against the train/es/valid fractions
  renormalised over those three. The draw does not depend on k, so a file keeps its
  train/es/valid role in every fold where it is not tested; or
- ``"next"``: the next fold (cyclically, in fold order) is the validation split, early stopping
  is carved from the remaining folds by group (needs three folds or more).

**The run** (:func:`cross_validate`), per test fold: every candidate is trained on the fold's
train segments, early-stopped on its es segments (the *training view* of those files, see
:data:`TrainView`), the candidates' validation macro-F1 on the *clean* segments of the valid files
chooses the fold's model (:func:`~sec_assets.core.models.selection.select`), and every candidate is
scored on the *clean* segments of the test files
(:func:`~sec_assets.core.evaluation.bootstrap.headline`). Before anything is trained,
:func:`check_isolation` proves that no file of the test fold — compared by content hash, so the
same bytes under two classes count — gives a single segment to train, es or valid; a violation
raises :class:`FoldLeak` (an ``AssertionError`` that ``python -O`` does not strip).

Every fold trains with the same ``seed`` (``train_candidate`` seeds by seed, candidate and
classes): fold k's model is the one production would train with ``test_fold=k``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from sec_assets.core.audio.splits import assign_folds
from sec_assets.core.audio.views import is_variant, parse_segment_key, window_key
from sec_assets.core.evaluation.bootstrap import headline
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.data import SegmentData
from sec_assets.core.models.learn import TrainedModel, train_candidate
from sec_assets.core.models.selection import select
from sec_assets.core.store.schemas import TABLE_SCHEMAS

ValidRule = Literal["carved", "next"]
#: What a train/es file contributes to training: ``"augmented"`` (production's view: per window,
#: its augmented variant where one was made, else the clean cut), ``"clean"`` (clean cuts only),
#: ``"all"`` (clean cuts and augmented variants side by side). Valid and test are always clean.
TrainView = Literal["augmented", "clean", "all"]

PLAN_COLUMNS = ("test_fold", "partition_key", "source_sha256", "group", "fold", "split")


#: one row per (octave, test fold, candidate); declared with the catalog's ``crossval`` table
PER_FOLD_SCHEMA = {c: t for c, t in TABLE_SCHEMAS["crossval"].items() if c != "run"}


class FoldLeak(AssertionError):
    """A file of a fold's test split gave segments to that fold's train, es or valid split."""


def fold_plan(
    files: pl.DataFrame,
    fractions: Mapping[str, float],
    seed: int,
    folds: Sequence[int] | None = None,
    valid: ValidRule = "carved",
) -> pl.DataFrame:
    """files(partition_key, source_sha256, fold[, group]) → one row per (test fold, class, file):
    ``test_fold, partition_key, source_sha256, group, fold, split`` (``fold`` the file's own),
    sorted; ``folds`` the test folds (default: every fold of the table, ascending). See the module
    docstring for ``valid``. Deterministic: stable hashes of groups / files and the seed only."""
    if "group" not in files.columns:
        files = files.with_columns(pl.lit(None, dtype=pl.String).alias("group"))
    table_folds = sorted({int(f) for f in files["fold"].drop_nulls().to_list()})
    chosen = table_folds if folds is None else [int(f) for f in folds]
    if not chosen:
        raise ValueError("no folds to cross-validate")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"folds {list(chosen)} repeat a fold")
    if valid == "next" and len(table_folds) < 3:
        raise ValueError(f"valid='next' needs three folds or more (the table has {table_folds})")
    parts = []
    for k in chosen:
        valid_fold = None
        if valid == "next":
            if k not in table_folds:
                raise ValueError(f"test fold {k} is not a fold of the table (folds: {table_folds})")
            valid_fold = table_folds[(table_folds.index(k) + 1) % len(table_folds)]
        elif valid != "carved":
            raise ValueError(f"valid must be 'carved' or 'next', not {valid!r}")
        assigned = assign_folds(files, test_fold=k, valid_fold=valid_fold, fractions=fractions, seed=seed)
        parts.append(assigned.with_columns(pl.lit(k, dtype=pl.Int64).alias("test_fold")))
    plan = pl.concat(parts, how="vertical_relaxed")
    return plan.select(
        pl.col("test_fold"),
        pl.col("partition_key").cast(pl.String),
        pl.col("source_sha256").cast(pl.String),
        pl.col("group").cast(pl.String),
        pl.col("fold").cast(pl.Int64),
        pl.col("split").cast(pl.String),
    ).sort("test_fold", "partition_key", "source_sha256")


@dataclass(frozen=True)
class CrossValData:
    """Every segment of every file at one octave, computed once for all folds.

    ``data.splits`` is ignored (the plan decides splits per fold). ``augmented[i]``: row i is an
    augmented variant (usable for train/es only); ``window[i]``: the key of the clean cut row i is
    a variant of (a clean row's own key), so the ``"augmented"`` view can use a window's variant
    instead of its clean cut.
    """

    data: SegmentData
    augmented: np.ndarray  # (n,) bool
    window: list[str]

    def __post_init__(self) -> None:
        n = len(self.data)
        if self.augmented.shape != (n,) or len(self.window) != n:
            raise ValueError(f"augmented and window need one entry per segment ({n})")

    @classmethod
    def clean(cls, data: SegmentData) -> CrossValData:
        """Clean segments only (no augmented variants): each row is its own window."""
        return cls(data, np.zeros(len(data), dtype=bool), list(data.segment_keys))

    @classmethod
    def from_keys(cls, data: SegmentData) -> CrossValData:
        """Views told by the segment keys, as ``augmented_segments`` stores them with
        ``segment_views: both`` (:mod:`sec_assets.core.audio.views`)."""
        keys = data.segment_keys
        return cls(data, np.array([is_variant(k) for k in keys], dtype=bool), [window_key(k) for k in keys])

    def held_out(self) -> np.ndarray:
        """Rows a valid or test file is scored on: its clean round-0 cuts (later rounds are
        training-only)."""
        round0 = np.array([parse_segment_key(w)[2] == 0 for w in self.window], dtype=bool)
        return ~self.augmented & round0


def _segment_splits(segments: CrossValData, plan_k: pl.DataFrame) -> list[str | None]:
    """Each segment's split in one fold's plan (None: its file is not in the plan)."""
    split_of = {
        (key, sha): split
        for key, sha, split in plan_k.select("partition_key", "source_sha256", "split").iter_rows()
    }
    classes = segments.data.classes
    return [
        split_of.get((classes[label], sha))
        for label, sha in zip(segments.data.labels.tolist(), segments.data.source_sha256, strict=True)
    ]


def _view(segments: CrossValData, in_split: np.ndarray, view: TrainView) -> np.ndarray:
    """The rows of ``in_split`` (a mask) that train under ``view``."""
    aug = segments.augmented
    if view == "clean":
        return in_split & ~aug
    if view == "all":
        return in_split
    if view != "augmented":
        raise ValueError(f"train view must be 'augmented', 'clean' or 'all', not {view!r}")
    varied = {segments.window[i] for i in np.flatnonzero(in_split & aug)}
    replaced = np.array([w in varied for w in segments.window], dtype=bool)
    return in_split & (aug | ~replaced)


def check_isolation(fold: int, test_files: set[str], used: Mapping[str, set[str]]) -> None:
    """Raise :class:`FoldLeak` if a test file (content hash) is among the files ``used`` per split."""
    for split, shas in used.items():
        leaked = sorted(test_files & shas)
        if leaked:
            raise FoldLeak(
                f"fold {fold}: {len(leaked)} test file(s) also give segments to {split} "
                f"(first {leaked[0]}): nothing evaluated may be trained or selected on"
            )


def _groups_in_training(plan_k: pl.DataFrame) -> int:
    """Groups of the test fold with files in train/es/valid too (ESC-50's as-published quirk)."""
    grouped = plan_k.filter(pl.col("group").is_not_null())
    tested = set(grouped.filter(pl.col("split") == "test")["group"].to_list())
    other = set(grouped.filter(pl.col("split") != "test")["group"].to_list())
    return len(tested & other)


def _n_files(data: SegmentData) -> int:
    return len(set(data.source_sha256))


def cross_validate(
    segments: CrossValData,
    plan: pl.DataFrame,
    candidates: Sequence[Candidate],
    seed: int,
    octave: int,
    train_view: TrainView = "augmented",
    on_model: Callable[[int, TrainedModel], None] | None = None,
) -> pl.DataFrame:
    """One row per (test fold, candidate), folds ascending, candidates in the given order:
    ``octave, fold, candidate, features, head, selected, valid_macro_f1, valid_accuracy,
    test_accuracy, test_balanced_accuracy, test_macro_f1, test_macro_map`` (test figures on the
    clean segments of the test files, macro over the classes present there), ``test_files,
    test_segments, valid_files, valid_segments, train_files, train_segments, es_segments``,
    ``test_groups_in_training`` (should be 0; see :func:`_groups_in_training`), ``epochs,
    best_epoch, train_seconds`` (wall time of ``train_candidate``; a process's first training also
    pays torch's and scikit-learn's one-time imports, seconds). ``on_model(fold, model)`` sees
    every trained model (the caller may store it, isolated from production). See the module
    docstring."""
    if not candidates:
        raise ValueError("no candidates to cross-validate")
    data = segments.data
    rows: list[dict[str, object]] = []
    for (k,), plan_k in plan.group_by("test_fold", maintain_order=True):
        fold = int(k)
        split = np.array([s if s is not None else "" for s in _segment_splits(segments, plan_k)])
        clean = segments.held_out()
        masks = {
            "train": _view(segments, split == "train", train_view),
            "es": _view(segments, split == "es", train_view),
            "valid": (split == "valid") & clean,
            "test": (split == "test") & clean,
        }
        parts = {s: data.subset(m) for s, m in masks.items()}
        test_files = set(parts["test"].source_sha256)
        if not test_files:
            raise ValueError(f"fold {fold}: no clean segment of a test file to evaluate")
        if not len(parts["train"]):
            raise ValueError(f"fold {fold}: no training segment")
        check_isolation(fold, test_files, {s: set(parts[s].source_sha256) for s in ("train", "es", "valid")})
        valid_proba: dict[str, np.ndarray] = {}
        fold_rows: dict[str, dict[str, object]] = {}
        for candidate in candidates:
            start = time.perf_counter()
            model = train_candidate(candidate, parts["train"], parts["es"], seed)
            seconds = time.perf_counter() - start
            if on_model is not None:
                on_model(fold, model)
            valid_proba[candidate.id] = model.probabilities(parts["valid"])
            test = headline(parts["test"].labels, model.probabilities(parts["test"]))
            fold_rows[candidate.id] = {
                "octave": octave,
                "fold": fold,
                "candidate": candidate.id,
                "features": candidate.features.name,
                "head": candidate.head.name,
                "test_accuracy": test["accuracy"],
                "test_balanced_accuracy": test["balanced_accuracy"],
                "test_macro_f1": test["macro_f1"],
                "test_macro_map": test["macro_map"],
                "test_files": len(test_files),
                "test_segments": len(parts["test"]),
                "valid_files": _n_files(parts["valid"]),
                "valid_segments": len(parts["valid"]),
                "train_files": _n_files(parts["train"]),
                "train_segments": len(parts["train"]),
                "es_segments": len(parts["es"]),
                "test_groups_in_training": _groups_in_training(plan_k),
                "epochs": model.epochs,
                "best_epoch": model.best_epoch,
                "train_seconds": seconds,
            }
        _, chosen = select(valid_proba, parts["valid"].labels)
        for c in chosen:
            row = fold_rows[str(c["candidate"])]
            row |= {
                "selected": bool(c["selected"]),
                "valid_macro_f1": c["valid_macro_f1"],
                "valid_accuracy": c["valid_accuracy"],
            }
            rows.append(row)
    return pl.DataFrame(rows, schema=PER_FOLD_SCHEMA).sort("fold", maintain_order=True)
