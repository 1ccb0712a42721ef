"""Report figures (matplotlib, headless): the confusion matrix as a PNG small enough to embed.

Rows are the true classes, columns the predictions; cells are coloured by the share of the row
(recall per class) and, up to :data:`ANNOTATE_MAX` classes, labelled with counts. The size grows
with the number of classes and is capped, so a 1,000-class matrix is still a small image (then
without tick labels). The PNG carries no timestamp (deterministic bytes for the same matrix).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

ANNOTATE_MAX = 30  # classes up to which cells show counts and axes show names
DPI = 100


def png_bytes(fig: Any) -> bytes:
    """A laid-out figure as PNG bytes without a timestamp or software tag: the same figure gives
    the same bytes (every figure of the reports goes through here)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def confusion_png(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.int64)
    k = len(class_names)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros(m.shape, dtype=float), where=rows > 0)
    side = float(np.clip(2.5 + 0.35 * k, 4.0, 12.0))
    fig, ax = plt.subplots(figsize=(side + 1.5, side), dpi=DPI)
    try:
        image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
        if k <= ANNOTATE_MAX:
            ax.set_xticks(range(k), labels=list(class_names), rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(k), labels=list(class_names), fontsize=8)
            for i in range(k):
                for j in range(k):
                    if m[i, j]:
                        colour = "white" if share[i, j] > 0.5 else "black"
                        ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7, color=colour)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=10)
        return png_bytes(fig)
    finally:
        plt.close(fig)
