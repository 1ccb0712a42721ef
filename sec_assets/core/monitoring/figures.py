"""The drift watch's figure (matplotlib, headless): the PSI of every (source, octave) by day with
the threshold line on top; below, per octave, the class frequencies of each source's latest day
beside the champion's test set. Deterministic bytes (:func:`~sec_assets.core.evaluation.figures.
png_bytes`); small enough to embed in the UI's Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from sec_assets.core.evaluation.figures import png_bytes
from sec_assets.core.monitoring.reference import Reference

MAX_BARS = 12  # classes per octave panel: the most frequent of either side
MAX_PANELS = 4  # octave panels at most (the lowest octaves)


def _shares(counts: Mapping[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def latest_shares(top1: pl.DataFrame, source: str, octave: int) -> tuple[str, dict[str, float]] | None:
    """(day, top-1 class shares) of the latest day of one source and octave, or None."""
    part = top1.filter((pl.col("source") == source) & (pl.col("octave") == octave))
    if part.is_empty():
        return None
    day = str(part["day"].max())
    counts = dict(part.filter(pl.col("day") == day).group_by("label_key").len().iter_rows())
    return day, _shares(counts)


def drift_png(
    daily: pl.DataFrame,
    top1: pl.DataFrame,
    references: Mapping[int, Reference],
    threshold: float,
    names: Mapping[str, str] | None = None,
) -> bytes:
    """The figure of :mod:`sec_assets.core.monitoring` (see the module) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = names or {}
    octaves = sorted(set(daily["octave"].to_list()))[:MAX_PANELS]
    panels = max(len(octaves), 1)
    fig = plt.figure(figsize=(max(7.0, 3.6 * panels), 6.8), dpi=100)
    try:
        grid = fig.add_gridspec(2, panels, height_ratios=(1.0, 1.1))
        _psi_panel(fig.add_subplot(grid[0, :]), daily, threshold)
        for i, n in enumerate(octaves):
            _class_panel(fig.add_subplot(grid[1, i]), top1, references[n], names)
        fig.suptitle("Predictions in use against the champion's test set", fontsize=10)
        return png_bytes(fig)
    finally:
        plt.close(fig)


def _psi_panel(ax, daily: pl.DataFrame, threshold: float) -> None:
    days = sorted(set(daily["day"].to_list()))
    x_of = {d: i for i, d in enumerate(days)}
    lines = sorted(daily.partition_by(["source", "octave"], as_dict=True).items())
    for i, ((source, octave), part) in enumerate(lines):
        part = part.sort("day")
        x = [x_of[d] for d in part["day"]]
        colour = f"C{i % 10}"  # one colour per (source, octave), from matplotlib's cycle
        label = f"{source} 1/{octave}"
        ax.plot(x, part["class_psi"].to_numpy(), "o-", color=colour, label=f"{label}: classes")
        ax.plot(x, part["confidence_psi"].to_numpy(), "s--", color=colour, label=f"{label}: confidence")
    ax.axhline(threshold, color="tab:red", linestyle=":", label=f"threshold {threshold:g}")
    ax.set_xticks(range(len(days)), labels=days, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("PSI vs test set")
    # linear up to the threshold, logarithmic above: a PSI of 15 and the 0.2 line both readable
    ax.set_yscale("symlog", linthresh=threshold, linscale=1.0)
    top = np.nanmax(daily.select("class_psi", "confidence_psi").to_numpy(), initial=0.0)
    ax.set_ylim(0.0, max(2.0 * threshold, 1.5 * float(top)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    ax.set_title(
        "population stability index by day (solid: top-1 classes, dashed: top-1 confidence)", fontsize=9
    )


def _class_panel(ax, top1: pl.DataFrame, ref: Reference, names: Mapping[str, str]) -> None:
    series = [(f"test set (v{ref.version})", _shares(ref.class_counts()))]
    for source in ("served", "inbox"):
        found = latest_shares(top1, source, ref.octave)
        if found is not None:
            series.append((f"{source} {found[0]}", found[1]))
    classes = sorted(
        {c for _, s in series for c in s}, key=lambda c: (-max(s.get(c, 0.0) for _, s in series), c)
    )
    classes = classes[:MAX_BARS]
    width = 0.8 / len(series)
    x = np.arange(len(classes))
    colours = {"test": "0.6", "served": "tab:blue", "inbox": "tab:green"}
    for i, (label, shares) in enumerate(series):
        heights = [shares.get(c, 0.0) for c in classes]
        colour = colours[label.split()[0]]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=label, color=colour)
    ax.set_xticks(x, labels=[names.get(c, c) for c in classes], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("share of top-1 windows")
    ax.set_title(f"1/{ref.octave} octave: top-1 classes (latest day)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
