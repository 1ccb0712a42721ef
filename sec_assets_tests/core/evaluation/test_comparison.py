"""octave_comparison's table: one row per (octave, feature set), its best head chosen on validation."""

import io

import polars as pl
from PIL import Image

from sec_assets.core.evaluation.comparison import at_chance, comparison_png, comparison_table, recommendation


def _frames():
    models = pl.DataFrame(
        {
            "octave": [1, 1, 1, 3, 3, 3],
            "feature_set": ["clap", "clap", "octave_stats"] * 2,
            "candidate": ["clap/linear-a", "clap/mlp-b", "octave_stats/mlp-c"] * 2,
            "selected": [False, False, True, False, True, False],
            "valid_macro_f1": [0.6, 0.7, 0.8, 0.5, 0.9, 0.4],
            "config": ["a", "b", "c"] * 2,
        }
    )
    rows = []
    for octave, cand, f1 in [
        (1, "clap/linear-a", 0.95),  # best on test, worse on valid: must not be chosen
        (1, "clap/mlp-b", 0.65),
        (1, "octave_stats/mlp-c", 0.75),
        (3, "clap/linear-a", 0.5),
        (3, "clap/mlp-b", 0.85),
        (3, "octave_stats/mlp-c", 0.3),
    ]:
        for split in ("valid", "test"):
            rows.append(
                {
                    "octave": octave,
                    "candidate": cand,
                    "split": split,
                    "n": 10,
                    "macro_f1": f1 if split == "test" else 0.0,
                    "macro_f1_ci_low": f1 - 0.1,
                    "macro_f1_ci_high": min(1.0, f1 + 0.1),
                    "mean_average_precision": f1,
                    "map_ci_low": None,
                    "map_ci_high": None,
                }
            )
    return pl.DataFrame(rows), models


def test_one_row_per_octave_and_feature_set_chosen_on_validation():
    evaluations, models = _frames()
    table = comparison_table(evaluations, models)
    assert table.select("octave", "feature_set", "candidate", "test_macro_f1").rows() == [
        (1, "clap", "clap/mlp-b", 0.65),
        (1, "octave_stats", "octave_stats/mlp-c", 0.75),
        (3, "clap", "clap/mlp-b", 0.85),
        (3, "octave_stats", "octave_stats/mlp-c", 0.3),
    ]
    best = recommendation(table)
    assert best is not None and (best["octave"], best["feature_set"]) == (3, "clap")  # valid 0.9


def test_the_plot_is_a_png_of_fixed_size_with_missing_intervals():
    png = comparison_png(comparison_table(*_frames()), zero_shot_map=0.3)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (900, 380)
    assert png == comparison_png(comparison_table(*_frames()), zero_shot_map=0.3)  # deterministic bytes


def test_a_feature_set_at_chance_is_marked_in_the_table_and_drawn_hollow():
    evaluations, models = _frames()
    flags = [True, True, True, True, True, False]  # 1/3 octave_stats learned nothing
    flagged = models.with_columns(pl.Series("valid_above_chance", flags))
    table = comparison_table(evaluations, flagged)
    assert table["valid_above_chance"].to_list() == [True, True, True, False]
    assert at_chance(table) == ["1/3 octave_stats"]
    before = comparison_table(evaluations, models)  # partitions trained before the chance check
    assert before["valid_above_chance"].to_list() == [None] * 4 and at_chance(before) == []
    hollow, plain = comparison_png(table), comparison_png(before)
    assert hollow != plain and Image.open(io.BytesIO(hollow)).size == Image.open(io.BytesIO(plain)).size
