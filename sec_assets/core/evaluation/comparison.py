"""Which octave resolution? One table and one plot over every evaluated octave: test macro-F1 and
macro mAP with their 95 % intervals (by source file) against bands per octave, one line per
feature set.

A feature set's line at an octave is its candidate with the best *validation* macro-F1 there (a
feature set may be trained with several heads), so nothing on the plot is chosen on test; the
recommendation is the (octave, feature set) with the best validation macro-F1 too, ties to the
coarser resolution (fewer bands: cheaper), and the test figures are reported beside it.

Each row carries its candidate's verdict against chance on validation
(:mod:`~sec_assets.core.evaluation.chance`, stored by the training): the table and the plot mark
a feature set whose model learned nothing at that octave.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from sec_assets.core.evaluation.figures import png_bytes
from sec_assets.core.store import schemas

COLUMNS = schemas.TABLE_SCHEMAS["octave_comparison"]


def comparison_table(evaluations: pl.DataFrame, models: pl.DataFrame) -> pl.DataFrame:
    """One row per (octave, feature set) from the ``evaluations`` and ``models`` views."""
    test = evaluations.filter(pl.col("split") == "test").select(
        "octave",
        "candidate",
        pl.col("n").alias("test_n"),
        pl.col("macro_f1").alias("test_macro_f1"),
        pl.col("macro_f1_ci_low").alias("test_macro_f1_ci_low"),
        pl.col("macro_f1_ci_high").alias("test_macro_f1_ci_high"),
        pl.col("mean_average_precision").alias("test_map"),
        pl.col("map_ci_low").alias("test_map_ci_low"),
        pl.col("map_ci_high").alias("test_map_ci_high"),
    )
    if "valid_above_chance" not in models.columns:  # every partition trained before the chance check
        models = models.with_columns(pl.lit(None, dtype=pl.Boolean).alias("valid_above_chance"))
    best = (
        models.select(
            "octave", "feature_set", "candidate", "selected", "valid_macro_f1", "valid_above_chance", "config"
        )
        .sort(["octave", "feature_set", "valid_macro_f1", "config"], descending=[False, False, True, False])
        .unique(["octave", "feature_set"], keep="first", maintain_order=True)
        .drop("config")
    )
    joined = best.join(test, on=["octave", "candidate"], how="inner").sort("octave", "feature_set")
    return joined.select(list(COLUMNS)).cast(COLUMNS)  # type: ignore[arg-type]


def at_chance(table: pl.DataFrame) -> list[str]:
    """``1/<octave> <feature set>`` of each row not clearly above chance on validation."""
    rows = table.filter(pl.col("valid_above_chance").not_())
    return [f"1/{r['octave']} {r['feature_set']}" for r in rows.iter_rows(named=True)]


def recommendation(table: pl.DataFrame) -> dict[str, Any] | None:
    if table.is_empty():
        return None
    row = table.sort(["valid_macro_f1", "octave"], descending=[True, False]).row(0, named=True)
    return row


def comparison_png(table: pl.DataFrame, zero_shot_map: float | None = None) -> bytes:
    """Two panels (macro-F1, mAP) against bands per octave on a log axis, error bars the 95 % CI;
    a point whose candidate is not clearly above chance on validation is drawn hollow (and the
    title says so)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    octaves = sorted(set(table["octave"].to_list()))
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.8), dpi=100, sharex=True)
    try:
        panels = (("test_macro_f1", "test macro-F1"), ("test_map", "test macro mAP"))
        for ax, (col, label) in zip(axes, panels, strict=True):
            names = sorted(set(table["feature_set"].to_list()))
            for i, name in enumerate(names):
                part = table.filter(pl.col("feature_set") == name).sort("octave")
                dodge = 1.0 + 0.04 * (i - (len(names) - 1) / 2)  # side by side on the log axis
                y = part[col].to_numpy()
                low = np.nan_to_num(part[f"{col}_ci_low"].fill_null(np.nan).to_numpy(), nan=0.0)
                high = np.nan_to_num(part[f"{col}_ci_high"].fill_null(np.nan).to_numpy(), nan=0.0)
                err = np.vstack([np.clip(y - low, 0, None), np.clip(high - y, 0, None)])
                x = part["octave"].to_numpy() * dodge
                drawn = ax.errorbar(x, y, yerr=err, marker="o", markersize=4, capsize=3, label=name)
                flagged = part["valid_above_chance"].not_().fill_null(False).to_numpy()
                if flagged.any():  # hollow: not clearly above chance on validation
                    colour = drawn.lines[0].get_color()
                    ax.plot(x[flagged], y[flagged], "o", markersize=7, mfc="white", color=colour, zorder=3)
            if col == "test_map" and zero_shot_map is not None:
                ax.axhline(zero_shot_map, color="grey", linestyle="--", label="CLAP zero-shot")
            ax.set_xscale("log")
            ax.set_xticks(octaves, labels=[str(o) for o in octaves])
            ax.minorticks_off()
            ax.set_xlabel("bands per octave")
            ax.set_ylabel(label)
            ax.set_ylim(0.0, 1.02)
            ax.grid(alpha=0.3)
        axes[1].legend(fontsize=8, loc="lower right")
        title = "Which resolution? 95 % intervals by source file"
        if table["valid_above_chance"].not_().any():
            title += "\nhollow: validation macro-F1 not clearly above chance (the model learned nothing)"
        fig.suptitle(title, fontsize=10)
        return png_bytes(fig)
    finally:
        plt.close(fig)
