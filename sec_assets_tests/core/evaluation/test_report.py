"""Report pieces: scikit-learn figures per class, bootstrap intervals by source file, the confusion
matrix PNG and the Markdown with its image."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from sec_assets.core.evaluation.bootstrap import file_bootstrap, headline
from sec_assets.core.evaluation.figures import confusion_png
from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.evaluation.report import data_uri, render_markdown


def _predictions(seed: int = 0, files: int = 30, per_file: int = 5):
    """Three classes; each file's segments share the file's (mostly right) prediction."""
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.integers(0, 3, files), per_file)
    right = np.repeat(rng.random(files) < 0.8, per_file)
    pred = np.where(right, y, (y + 1) % 3)
    proba = np.full((len(y), 3), 0.1)
    proba[np.arange(len(y)), pred] = 0.8
    groups = [f"file{i // per_file}" for i in range(len(y))]
    return y, proba, groups


def test_figures_and_top_confusions_use_the_class_names():
    y, proba, _ = _predictions()
    keys = [f"seg{i}" for i in range(len(y))]
    res = evaluate(y, proba, ["dog bark", "rain", "siren"], keys)
    assert set(res["per_class"]) == {"dog bark", "rain", "siren"}
    assert res["n"] == 150 and 0.7 < res["accuracy"] < 0.9
    assert sum(sum(r) for r in res["confusion_matrix"]) == 150
    top = res["top_confusions"][0]
    assert top["count"] == max(res["confusion_matrix"][i][j] for i in range(3) for j in range(3) if i != j)
    assert len(top["examples"]) == 3 and all(k.startswith("seg") for k in top["examples"])


def test_bootstrap_resamples_files_not_segments():
    y, proba, groups = _predictions()
    by_file = file_bootstrap(y, proba, groups, 300, seed=0)
    by_segment = file_bootstrap(y, proba, [str(i) for i in range(len(y))], 300, seed=0)
    point = headline(y, proba)
    for stat in ("accuracy", "macro_f1"):
        lo, hi = by_file[stat]
        assert lo <= point[stat] <= hi
        width_file = hi - lo
        width_segment = by_segment[stat][1] - by_segment[stat][0]
        assert width_file > 1.5 * width_segment  # correlated segments: wider, honest intervals
    assert file_bootstrap(y, proba, groups, 300, seed=0) == by_file  # deterministic
    assert file_bootstrap(y, proba, groups, 300, seed=1) != by_file


@pytest.mark.parametrize(("classes", "size"), [(5, (575, 425)), (60, (1350, 1200))])
def test_the_confusion_png_is_a_valid_image_of_the_expected_size(classes, size):
    m = np.eye(classes, dtype=int) * 3
    png = confusion_png(m.tolist(), [f"class {i}" for i in range(classes)], "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == size
    assert confusion_png(m.tolist(), [f"class {i}" for i in range(classes)], "t") == png  # no timestamp


def test_markdown_embeds_the_image_and_intervals():
    y, proba, groups = _predictions()
    res = evaluate(y, proba, ["a", "b", "c"])
    iv = file_bootstrap(y, proba, groups, 50, seed=0)
    png = confusion_png(res["confusion_matrix"], ["a", "b", "c"], "t")
    md = render_markdown("T", {"test": res}, {"test": iv}, {"test": data_uri(png)})
    assert f"![confusion matrix, test](data:image/png;base64,{base64.b64encode(png).decode()})" in md
    assert f"| macro-F1 | {res['macro_f1']:.3f} [{iv['macro_f1'][0]:.3f}, {iv['macro_f1'][1]:.3f}] |" in md


def test_a_class_without_examples_shows_a_dash_not_zero():
    """A made-up confusion: 'rain' has no test segment but two predicted as it; 'siren' has no
    segment and none predicted; 'hail' has segments but is never predicted."""
    classes = ["dog bark", "rain", "siren", "hail"]
    y = np.array([0, 0, 0, 3, 3])
    pred = np.array([0, 1, 0, 1, 3])
    proba = np.full((len(y), 4), 0.05)
    proba[np.arange(len(y)), pred] = 0.85
    res = evaluate(y, proba, classes)
    assert res["per_class"]["siren"]["precision"] == 0.0  # scikit-learn's 0/0
    md = render_markdown("T", {"test": res})
    table = md[md.index("| class | precision") :].split("\n\n")[0].splitlines()[2:]
    rows = {line.split(" | ")[0][2:]: line for line in table}
    assert set(rows) == set(classes)
    assert rows["dog bark"].startswith("| dog bark | 1.000 | 0.667 | 0.800 |")
    assert rows["rain"] == "| rain | 0.000 | – | – | – | 0 |"  # predicted twice, never right
    assert rows["siren"] == "| siren | – | – | – | – | 0 |"
    assert rows["hail"].startswith("| hail | 1.000 | 0.500 | 0.667 |")
    assert "| 0.000 | 0.000 | 0.000 |" not in md


def test_the_candidates_table_warns_about_a_candidate_at_chance():
    y, proba, _ = _predictions()
    res = evaluate(y, proba, ["a", "b", "c"])
    common = {"test_macro_f1": 0.5, "test_map": 0.5, "valid_chance_macro_f1": 0.333}
    candidates = [
        {**common, "candidate": "stats", "selected": True, "valid_macro_f1": 0.8, "valid_above_chance": True},
        {
            **common,
            "candidate": "cnn",
            "selected": False,
            "valid_macro_f1": 0.31,
            "valid_above_chance": False,
            "valid_null_macro_f1_p95": 0.42,
        },
        {**common, "candidate": "old", "selected": False, "valid_macro_f1": 0.5},  # before the check
    ]
    md = render_markdown("T", {"test": res}, candidates=candidates)
    assert "| stats | ✔ | 0.800 | above | 0.500 | 0.500 |" in md
    assert "| cnn |  | 0.310 | ⚠ at chance | 0.500 | 0.500 |" in md
    assert "| old |  | 0.500 | – | 0.500 | 0.500 |" in md
    assert (
        "⚠ cnn: validation macro-F1 0.310 is not clearly above chance (uniform guess 0.333; a model "
        "that learned nothing reaches 0.420 in 5 % of label permutations across the validation files)"
    ) in md
    assert md.count("⚠ ") == 2  # the cell and the line, for cnn alone
