"""The evaluation report a person reads (Markdown), from :func:`~sec_assets.core.evaluation.
metrics.evaluate` results, bootstrap intervals and the candidates' figures.

Images are referenced by a link: a file name next to the report (the file on disk, MLflow) or an
inline ``data:image/png;base64`` URI (the Dagster UI, whose Markdown renderer allows ``data:``
image sources — checked in dagster-webserver 1.13's bundle: the sanitize schema adds ``data``
to ``src`` and no image URL transform is set).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

Interval = tuple[float, float]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _ci(value: float, interval: Interval | None) -> str:
    if interval is None or interval[0] != interval[0]:  # NaN: no interval
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


NA = "–"  # a figure with no examples to compute it from (0/0), never printed as 0.000


def _per_class_cells(c: Mapping[str, Any], predicted: int | None) -> tuple[str, str, str]:
    """Precision, recall, F1 of one class as table cells. Recall and F1 need examples of the class
    (support); precision needs segments predicted as the class (``predicted``: the confusion matrix's
    column sum; unknown: taken as none when the class has no support and a zero precision).
    scikit-learn reports these 0/0 cases as 0.0 — a figure the class never earned."""
    support = int(c["support"])
    if predicted is None:
        predicted = 0 if support == 0 and not c["precision"] else 1
    precision = f"{c['precision']:.3f}" if predicted else NA
    recall = f"{c['recall']:.3f}" if support else NA
    f1 = f"{c['f1']:.3f}" if support else NA
    return precision, recall, f1


AT_CHANCE = "⚠ at chance"


def chance_cell(above_chance: bool | None) -> str:
    """A candidate's verdict of :mod:`~sec_assets.core.evaluation.chance` as a table cell."""
    if above_chance is None:  # no validation segments, or trained before the check
        return NA
    return "above" if above_chance else AT_CHANCE


def chance_warnings(candidates: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per candidate whose validation macro-F1 is not clearly above chance."""
    return [
        f"⚠ {c['candidate']}{' (the selected model)' if c.get('selected') else ''}: validation "
        f"macro-F1 {c['valid_macro_f1']:.3f} is not clearly above chance (uniform guess "
        f"{c['valid_chance_macro_f1']:.3f}; a model that learned nothing reaches "
        f"{c['valid_null_macro_f1_p95']:.3f} in 5 % of label permutations across the validation files)"
        for c in candidates
        if c.get("valid_above_chance") is False
    ]


def render_split(
    split: str,
    res: dict[str, Any],
    intervals: Mapping[str, Interval] | None,
    image: str | None,
) -> list[str]:
    lines = [f"## {split} (n = {res.get('n', 0)} segments)", ""]
    if not res.get("n"):
        return [*lines, "no examples in this split", ""]
    iv = intervals or {}
    lines += [
        "| figure | value [95 % CI, resampled by source file] |",
        "|---|---|",
        f"| accuracy | {_ci(res['accuracy'], iv.get('accuracy'))} |",
        f"| balanced accuracy | {_ci(res['balanced_accuracy'], iv.get('balanced_accuracy'))} |",
        f"| macro-F1 | {_ci(res['macro_f1'], iv.get('macro_f1'))} |",
        f"| macro-F0.5 | {res['macro_f05']:.3f} |",
        f"| macro mAP | {_ci(res['mean_average_precision'], iv.get('macro_map'))} |",
        "",
        "| class | precision | recall | F1 | AP | support |",
        "|---|---|---|---|---|---|",
    ]
    confusion = res.get("confusion_matrix")
    for i, (cls, c) in enumerate(res["per_class"].items()):
        predicted = sum(row[i] for row in confusion) if confusion else None
        precision, recall, f1 = _per_class_cells(c, predicted)
        ap = NA if c["average_precision"] is None else f"{c['average_precision']:.3f}"
        name = str(cls).replace("|", "\\|")
        lines.append(f"| {name} | {precision} | {recall} | {f1} | {ap} | {c['support']} |")
    if image:
        lines += ["", f"![confusion matrix, {split}]({image})"]
    if res.get("top_confusions"):
        lines += ["", "| true | predicted as | segments | examples |", "|---|---|---|---|"]
        for t in res["top_confusions"]:
            examples = ", ".join(f"`{k}`" for k in t["examples"])
            lines.append(f"| {t['true']} | {t['predicted']} | {t['count']} | {examples} |")
    return [*lines, ""]


def render_markdown(
    title: str,
    results: Mapping[str, dict[str, Any]],
    intervals: Mapping[str, Mapping[str, Interval]] | None = None,
    images: Mapping[str, str] | None = None,
    candidates: Sequence[Mapping[str, Any]] = (),
    notes: Sequence[str] = (),
) -> str:
    """Title, notes, the candidates table (with each candidate's verdict against chance on validation
    and a warning line for each one at chance), then per split the headline figures with intervals,
    the per-class table, the confusion matrix image and the top confusions."""
    lines = [f"# {title}", "", *[f"{n}  " for n in notes], ""]
    if candidates:
        lines += [
            "| candidate | selected | valid macro-F1 | valid vs chance | test macro-F1 [95 % CI] "
            "| test mAP [95 % CI] |",
            "|---|---|---|---|---|---|",
        ]
        for c in candidates:
            lines.append(
                f"| {c['candidate']} | {'✔' if c['selected'] else ''} | {c['valid_macro_f1']:.3f} | "
                f"{chance_cell(c.get('valid_above_chance'))} | "
                f"{_ci(c['test_macro_f1'], c.get('test_macro_f1_ci'))} | "
                f"{_ci(c['test_map'], c.get('test_map_ci'))} |"
            )
        lines += ["", *[f"{w}  " for w in chance_warnings(candidates)], ""]
    for split, res in results.items():
        lines += render_split(split, res, (intervals or {}).get(split), (images or {}).get(split))
    return "\n".join(lines)
