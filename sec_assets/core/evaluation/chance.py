"""Is a candidate better than guessing? A validation macro-F1 near what a model that learned
nothing would score is reported as *at chance*, wherever candidates are compared.

Two yardsticks, and a candidate must clear both:

- **chance**: the expected macro-F1 of a uniform random guesser on these labels. A class with a
  share ``p`` of the segments gets precision ``p`` and recall ``1/K`` in expectation, so F1
  ``2p / (1 + K·p)``; the mean over the ``K`` classes present is ``1/K`` when the classes are
  balanced. (A constant guess of the majority class scores less, ``2p/(1+p)/K``.)
- **sampling noise**: with few validation files a model that learned nothing can score above
  ``1/K`` by luck. The candidate's own predictions are scored against the labels permuted across
  *files* (segments of one recording share its label and move together) :data:`RESAMPLES` times;
  the 95th percentile of those macro-F1s is the highest score that learning nothing explains (a
  one-sided permutation test at 5 %). The permutations come from a generator seeded by a stable
  hash of the seed and the files, so the verdict is the same on every run.

Macro-F1 here is scikit-learn's default (the mean over the classes present in the labels or the
predictions), computed from the confusion counts so that the permutations cost little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sec_assets.core.hashing import stable_seed

RESAMPLES = 200
QUANTILE = 95.0  # percentile of the permutation null: a one-sided 5 % test


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the classes in ``labels`` or ``predicted`` (scikit-learn's default), 0/0 as 0."""
    if len(labels) == 0:
        return 0.0
    present = np.union1d(labels, predicted)
    true_positive = np.array([np.sum((labels == c) & (predicted == c)) for c in present], dtype=float)
    support = np.array([np.sum(labels == c) for c in present], dtype=float)
    guessed = np.array([np.sum(predicted == c) for c in present], dtype=float)
    denominator = support + guessed
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(f1.mean())


def uniform_guess_macro_f1(labels: np.ndarray) -> float:
    """Expected macro-F1 of guessing each of the ``K`` classes present with probability ``1/K``."""
    if len(labels) == 0:
        return 0.0
    share = np.unique(labels, return_counts=True)[1] / len(labels)
    k = len(share)
    return float(np.mean(2 * share / (1 + k * share)))


@dataclass(frozen=True)
class ChanceCheck:
    macro_f1: float  # the candidate's, on these labels
    chance: float  # the uniform guesser's expected macro-F1
    null_p95: float  # 95th percentile of the macro-F1 with labels permuted across files
    n_files: int

    @property
    def above_chance(self) -> bool | None:
        """Clearly above both yardsticks; None without validation segments (nothing to tell)."""
        if self.n_files == 0:
            return None
        return self.macro_f1 > max(self.chance, self.null_p95)

    def warning(self, candidate: str) -> str | None:
        """One line for a report when the candidate is not clearly above chance, else None."""
        if self.above_chance is not False:
            return None
        return (
            f"⚠ {candidate}: validation macro-F1 {self.macro_f1:.3f} is not clearly above chance "
            f"(uniform guess {self.chance:.3f}; a model that learned nothing reaches "
            f"{self.null_p95:.3f} on these {self.n_files} files in 5 % of label permutations)"
        )


def chance_check(
    labels: np.ndarray, predicted: np.ndarray, groups: Sequence[str], seed: int, resamples: int = RESAMPLES
) -> ChanceCheck:
    """Compare ``predicted`` with ``labels`` against both yardsticks of the module docstring;
    ``groups`` names each segment's source file (a file's segments share its label)."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if len(labels) == 0:
        return ChanceCheck(0.0, 0.0, 0.0, 0)
    files = sorted(set(groups))
    index = {f: i for i, f in enumerate(files)}
    file_of = np.array([index[g] for g in groups])
    file_label = np.empty(len(files), dtype=labels.dtype)
    file_label[file_of] = labels  # the file's label (its segments share it)
    rng = np.random.default_rng(stable_seed(seed, "chance", tuple(files)))
    null = [macro_f1(rng.permutation(file_label)[file_of], predicted) for _ in range(resamples)]
    return ChanceCheck(
        macro_f1=macro_f1(labels, predicted),
        chance=uniform_guess_macro_f1(labels),
        null_p95=float(np.percentile(null, QUANTILE)),
        n_files=len(files),
    )
