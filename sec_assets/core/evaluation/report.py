"""The evaluation report a person reads (Markdown), from the results of
:func:`~sec_assets.core.evaluation.metrics.evaluate`."""

from __future__ import annotations

from typing import Any


def render_markdown(title: str, results: dict[str, dict[str, Any]], classes: list[str]) -> str:
    """The report a person reads: headline figures per split, per-class table, confusion matrix."""
    lines = [f"# {title}", ""]
    for split, res in results.items():
        lines += [f"## {split} (n = {res.get('n', 0)})", ""]
        if not res.get("n"):
            lines += ["no examples in this split", ""]
            continue
        lines += [
            f"accuracy {res['accuracy']:.3f} · macro precision {res['macro_precision']:.3f} · "
            f"macro recall {res['macro_recall']:.3f} · macro F0.5 {res['macro_f05']:.3f} · "
            f"mAP {res['mean_average_precision']:.3f}",
            "",
            "| class | precision | recall | F0.5 | AP | support |",
            "|---|---|---|---|---|---|",
        ]
        for cls in classes:
            c = res["per_class"][cls]
            ap = "–" if c["average_precision"] is None else f"{c['average_precision']:.3f}"
            lines.append(
                f"| {cls} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f05']:.3f} "
                f"| {ap} | {c['support']} |"
            )
        lines += [
            "",
            "confusion matrix (rows: true, columns: predicted, order as above):",
            "",
            "```",
        ]
        lines += [" ".join(f"{v:4d}" for v in row) for row in res["confusion_matrix"]]
        lines += ["```", ""]
    return "\n".join(lines)
