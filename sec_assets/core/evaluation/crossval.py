"""Cross-validation results as a paper reports them: per (octave, candidate) the mean, standard
deviation and a 95 % interval across folds, a results table (Markdown and CSV: rows the
candidates, columns the octave resolutions, cells "72.4 ± 3.1") and a plot across resolutions.

Input: the per-fold frame of :func:`sec_assets.core.models.crossval.cross_validate` (one row per
octave × fold × candidate, ``test_*`` figures and a ``selected`` flag; frames of several octaves
concatenated). Pure: polars, scipy, matplotlib (Agg); nothing read or written.

**Across folds** the figures are k values of one statistic, one per test fold: the mean, the
sample standard deviation (ddof = 1) and the 95 % interval for the mean from Student's t with
k − 1 degrees of freedom, ``mean ± t(0.975, k − 1) · std / √k`` (scipy.stats.t). It treats the
folds as independent draws, which they are not quite (each fold's training data overlaps the
others'), so the interval is the customary one, not an exact one. With one fold there is no
spread: std and interval are null.

**"selected per fold"** is the model a practitioner would have deployed: per fold, the candidate
chosen on that fold's validation split (best validation macro-F1), scored on that fold's test
split. Its mean across folds is an honest estimate of "train the candidates, keep the best on
validation" — choosing the row with the best *mean test* figure instead would be chosen on test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from sec_assets.core.evaluation.figures import png_bytes

SELECTED = "selected per fold"
STATISTICS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_map")
LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "macro_map": "macro mAP",
}
LEVEL = 0.95
NA = "–"


def t_interval(
    values: Sequence[float], level: float = LEVEL
) -> tuple[float, float | None, float | None, float | None]:
    """(mean, std with ddof = 1, interval low, high) of k values; std and interval None when k < 2."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if x.size < 2:
        return mean, None, None, None
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * std / math.sqrt(x.size)
    return mean, std, mean - half, mean + half


def summarise(per_fold: pl.DataFrame, statistics: Sequence[str] = STATISTICS) -> pl.DataFrame:
    """One row per (octave, candidate), candidates in order of first appearance and then
    :data:`SELECTED` per octave: ``octave, candidate, n_folds, folds, times_selected`` (null for
    the selected row) and per statistic s ``{s}_mean, {s}_std, {s}_ci_low, {s}_ci_high`` (of the
    per-fold ``test_{s}``). Raises if a fold of an octave has not exactly one selected candidate."""
    if per_fold.is_empty():
        raise ValueError("no per-fold rows to summarise")
    selected_counts = per_fold.group_by("octave", "fold").agg(pl.col("selected").sum().alias("n"))
    wrong = selected_counts.filter(pl.col("n") != 1).sort("octave", "fold")
    if wrong.height:
        octave, fold, n = wrong.row(0)
        raise ValueError(f"1/{octave}, fold {fold}: {n} candidates selected, one expected")
    chosen = per_fold.filter(pl.col("selected")).with_columns(pl.lit(SELECTED).alias("candidate"))
    rows = []
    for octave in sorted(set(per_fold["octave"].to_list())):
        part = per_fold.filter(pl.col("octave") == octave)
        names = list(dict.fromkeys(part["candidate"].to_list()))
        for name in [*names, SELECTED]:
            source = chosen if name == SELECTED else per_fold
            these = source.filter((pl.col("octave") == octave) & (pl.col("candidate") == name)).sort("fold")
            row: dict[str, object] = {
                "octave": octave,
                "candidate": name,
                "n_folds": these.height,
                "folds": these["fold"].to_list(),
                "times_selected": None if name == SELECTED else int(these["selected"].sum()),
            }
            for s in statistics:
                mean, std, low, high = t_interval(these[f"test_{s}"].to_list())
                row |= {f"{s}_mean": mean, f"{s}_std": std, f"{s}_ci_low": low, f"{s}_ci_high": high}
            rows.append(row)
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "octave": pl.Int64,
        "candidate": pl.String,
        "n_folds": pl.Int64,
        "folds": pl.List(pl.Int64),
        "times_selected": pl.Int64,
    }
    for s in statistics:
        schema |= {f"{s}_{part}": pl.Float64 for part in ("mean", "std", "ci_low", "ci_high")}
    return pl.DataFrame(rows, schema=schema)


def octave_label(octave: int) -> str:
    return f"1/{octave}"


@dataclass(frozen=True)
class PaperTable:
    markdown: str
    csv: str


def _cell(mean: float, std: float | None, scale: float, digits: int) -> str:
    if std is None:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def paper_table(
    summary: pl.DataFrame, statistic: str = "accuracy", percent: bool = True, digits: int = 1
) -> PaperTable:
    """Rows the candidates then :data:`SELECTED`, columns the octave resolutions ascending
    ("1/1", "1/3", …), cells "mean ± std" of ``statistic`` (in % when ``percent``); a cell whose
    fold count differs from the table's usual k says "(k = n)"; no such candidate at an octave:
    "–". Markdown bolds the best mean per column among the candidates and ends with a note: k,
    what a cell is, and the factor t(0.975, k − 1)/√k that turns a cell's ± into its 95 %
    interval. The CSV has the same rows, columns and cells (no bold, no note)."""
    octaves = sorted(set(summary["octave"].to_list()))
    names = [n for n in dict.fromkeys(summary["candidate"].to_list()) if n != SELECTED] + [SELECTED]
    cells = {(r["candidate"], r["octave"]): r for r in summary.iter_rows(named=True)}
    ks = summary["n_folds"].to_list()
    k = max(set(ks), key=lambda v: (ks.count(v), v))
    scale = 100.0 if percent else 1.0
    best: dict[int, float] = {}
    for o in octaves:
        means = [cells[(n, o)][f"{statistic}_mean"] for n in names if n != SELECTED and (n, o) in cells]
        if means:
            best[o] = max(means)
    header = ["model", *[octave_label(o) for o in octaves]]
    md_rows, csv_rows = [], []
    for name in names:
        md, plain = [name.replace("|", "\\|")], [name]
        for o in octaves:
            r = cells.get((name, o))
            if r is None:
                md.append(NA)
                plain.append(NA)
                continue
            text = _cell(r[f"{statistic}_mean"], r[f"{statistic}_std"], scale, digits)
            if r["n_folds"] != k:
                text += f" (k = {r['n_folds']})"
            plain.append(text)
            bold = name != SELECTED and r[f"{statistic}_mean"] == best.get(o)
            md.append(f"**{text}**" if bold else text)
        md_rows.append(md)
        csv_rows.append(plain)
    unit = " (%)" if percent else ""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" + "---:|" * len(octaves),
        *["| " + " | ".join(r) + " |" for r in md_rows],
        "",
        f"Test {LABELS.get(statistic, statistic)}{unit} by bands per octave, mean ± standard deviation "
        f"across k = {k} folds (each fold the test fold once; models trained per fold); "
        f"**bold**: the best candidate's mean per column; {SELECTED}: the candidate chosen on each "
        "fold's validation split, scored on that fold's test split.",
    ]
    if k >= 2:
        from scipy import stats

        factor = float(stats.t.ppf(0.5 + LEVEL / 2, k - 1)) / math.sqrt(k)
        lines[-1] += (
            f" 95 % interval for a mean: mean ± {factor:.2f} × the cell's ± "
            f"(Student t, k − 1 = {k - 1} degrees of freedom)."
        )
    else:
        lines[-1] += " One fold: no spread, no interval."
    csv = pl.DataFrame(csv_rows, schema=header, orient="row").write_csv()
    return PaperTable(markdown="\n".join(lines) + "\n", csv=csv)


def crossval_png(summary: pl.DataFrame, statistic: str = "accuracy") -> bytes:
    """Mean test ``statistic`` against bands per octave (log axis), error bars its 95 % interval
    across folds (none with one fold), one line per candidate and a dashed one for
    :data:`SELECTED`. Deterministic bytes (no timestamp, fixed size)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    octaves = sorted(set(summary["octave"].to_list()))
    names = [n for n in dict.fromkeys(summary["candidate"].to_list()) if n != SELECTED] + [SELECTED]
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=100)
    try:
        for i, name in enumerate(names):
            part = summary.filter(pl.col("candidate") == name).sort("octave")
            if part.is_empty():
                continue
            y = part[f"{statistic}_mean"].to_numpy()
            low = part[f"{statistic}_ci_low"].fill_null(np.nan).to_numpy().astype(float)
            high = part[f"{statistic}_ci_high"].fill_null(np.nan).to_numpy().astype(float)
            err = np.nan_to_num(np.vstack([y - low, high - y]), nan=0.0).clip(0, None)
            dodge = 1.0 + 0.03 * (i - (len(names) - 1) / 2)  # side by side on the log axis
            style = {"color": "black", "linestyle": "--"} if name == SELECTED else {}
            ax.errorbar(
                part["octave"].to_numpy() * dodge,
                y,
                yerr=err,
                marker="o",
                markersize=4,
                capsize=3,
                label=name,
                **style,  # type: ignore[arg-type]
            )
        ax.set_xscale("log")
        ax.set_xticks(octaves, labels=[octave_label(o) for o in octaves])
        ax.minorticks_off()
        ax.set_xlabel("bands per octave")
        ax.set_ylabel(f"test {LABELS.get(statistic, statistic)}")
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        ks = sorted(set(summary["n_folds"].to_list()))
        ax.set_title(
            f"Cross-validation, k = {', '.join(map(str, ks))} folds: mean and 95 % interval (t)",
            fontsize=10,
        )
        return png_bytes(fig)
    finally:
        plt.close(fig)
