"""The champion gate (pure): does a newly evaluated model take the ``champion`` alias?

A new version becomes champion when (a) its test figures pass the thresholds
(``gate_min_test_map``, ``gate_min_test_macro_f1``) and (b) — when the current champion was
evaluated on the *same test set* (same test-set fingerprint) — it is not worse than the champion
beyond the paired bootstrap margin: for macro-F1 and mAP, the 95 % interval of (new − champion)
over file resamples drawn once for both must not lie entirely below ``-gate_tolerance``. On a
different test set (new classes or files) the figures are not comparable, so only (a) applies,
and the reason says so. Otherwise the version is ``challenger``; the reason says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CHAMPION = "champion"
CHALLENGER = "challenger"
GATED = {"macro_f1": "macro-F1", "macro_map": "mAP"}  # statistic → its name in reasons


@dataclass(frozen=True)
class Thresholds:
    min_test_map: float
    min_test_macro_f1: float
    tolerance: float


@dataclass(frozen=True)
class Champion:
    version: str
    same_test_set: bool
    #: per statistic (observed new − champion, interval low, high); empty on another test set
    difference: Mapping[str, tuple[float, float, float]]


@dataclass(frozen=True)
class Decision:
    alias: str
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def decide(test: Mapping[str, float], thresholds: Thresholds, champion: Champion | None) -> Decision:
    """``test``: the new version's ``macro_f1`` and ``macro_map`` on the test split."""
    floors = {"macro_f1": thresholds.min_test_macro_f1, "macro_map": thresholds.min_test_map}
    settings = {"macro_f1": "gate_min_test_macro_f1", "macro_map": "gate_min_test_map"}
    failed = [
        f"test {GATED[s]} {test[s]:.3f} < {floors[s]:g} ({settings[s]})" for s in GATED if test[s] < floors[s]
    ]
    passed = [f"test {GATED[s]} {test[s]:.3f} ≥ {floors[s]:g}" for s in GATED if test[s] >= floors[s]]
    if failed:
        return Decision(CHALLENGER, "below the thresholds: " + "; ".join(failed))
    head = "passes the thresholds (" + ", ".join(passed) + ")"
    if champion is None:
        return Decision(CHAMPION, f"{head}; no champion yet")
    if not champion.same_test_set:
        return Decision(
            CHAMPION,
            f"{head}; champion v{champion.version} was evaluated on a different test set (new classes "
            "or files), so the comparison is against the thresholds only",
        )
    margins = [
        f"Δ {GATED[s]} {d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"
        for s in GATED
        if (d := champion.difference[s]) is not None
    ]
    worse = [s for s in GATED if champion.difference[s][2] < -thresholds.tolerance]
    versus = f"vs champion v{champion.version} on the same test set, paired 95 % bootstrap: " + ", ".join(
        margins
    )
    if worse:
        return Decision(
            CHALLENGER,
            f"worse than champion v{champion.version}: the interval of Δ "
            f"{' and Δ '.join(GATED[s] for s in worse)} lies below -{thresholds.tolerance:g} "
            f"(gate_tolerance); {versus}",
        )
    return Decision(CHAMPION, f"{head}; not worse {versus}")
