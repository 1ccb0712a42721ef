"""The per (source, octave, day) rows: counts, mean confidence and PSI against the reference,
pinned on a day that matches it, a day that does not, and an inbox compared above its floor."""

import datetime as dt
import io
import json
import os
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from sec_assets.core.inference import inbox
from sec_assets.core.monitoring.daily import (
    breaches,
    daily_drift,
    describe,
    inbox_top1,
    marker_days,
    served_top1,
)
from sec_assets.core.monitoring.figures import drift_png, latest_shares
from sec_assets.core.monitoring.reference import Reference, top1
from sec_assets.core.serving.request_log import read_served, write_shard
from sec_assets_tests.core.monitoring.frames import REFERENCE, inbox_rows, predictions_frame, served_rows

MATCHING, SHIFTED = "2026-12-01", "2026-12-02"


def _reference() -> Reference:
    labels, confidences = top1(predictions_frame(REFERENCE))
    return Reference(3, "sec-classifier-oct3", "1", labels, confidences, "test")


def _mark(out: Path, sha: str, day: str) -> None:
    inbox.mark_done(out, sha, "key", {"path": f"/inbox/{sha}.wav", "size": 1, "mtime_ns": 1})
    noon = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    os.utime(inbox.marker(out, sha), (noon, noon))


def _top1(tmp_path: Path) -> pl.DataFrame:
    home = tmp_path / "home"
    as_tested = [("a", 0.95)] * 3 + [("b", 0.75)] * 2
    write_shard(
        home,
        served_rows("r1", MATCHING, as_tested)
        + served_rows("r2", MATCHING, as_tested)
        + served_rows("r3", SHIFTED, [("c", 0.35)] * 4, version="2")
        + served_rows("r4", SHIFTED, [("a", 0.95)], octave=1),  # no reference for 1/1: left out
    )
    out = tmp_path / "predictions"
    _mark(out, "rec", SHIFTED)
    predictions = pl.concat([inbox_rows("rec", [("a", 0.9)] * 3), inbox_rows("unmarked", [("c", 0.5)])])
    days = marker_days(out)
    assert days == {"rec": SHIFTED}  # "unmarked": a pass stopped before its marker
    return pl.concat([served_top1(read_served(home)), inbox_top1(predictions, days)])


def test_one_row_per_source_octave_and_day_with_pinned_figures(tmp_path: Path):
    top = _top1(tmp_path)
    assert top.height == 10 + 4 + 1 + 3  # rank-1 rows only; the unmarked recording left out
    daily = daily_drift(top, {3: _reference()}, floors={"inbox": 0.8})
    shown = daily.select(
        "source", "octave", "day", "model_versions", "requests", "recordings", "windows", "classes_seen"
    )
    assert shown.rows() == [
        ("inbox", 3, SHIFTED, "1", None, 1, 3, 1),
        ("served", 3, MATCHING, "1", 2, None, 10, 2),
        ("served", 3, SHIFTED, "2", 1, None, 4, 1),
    ]
    inbox_day, matching, shifted = daily.iter_rows(named=True)
    # the day served as tested: the same class shares and confidence bins as the reference
    assert matching["class_psi"] == pytest.approx(0.0) and matching["confidence_psi"] == pytest.approx(0.0)
    assert matching["mean_top1"] == pytest.approx(0.87)  # (6·0.95 + 4·0.75) / 10
    assert (matching["top_label_key"], matching["top_label_share"]) == ("a", 0.6)
    # all "c" at 0.35: a class and a confidence bin the test set never had
    assert shifted["class_psi"] == pytest.approx(17.7450486865)
    assert shifted["confidence_psi"] == pytest.approx(17.7450486865)
    assert (shifted["mean_top1"], shifted["top_label_key"], shifted["top_label_share"]) == (0.35, "c", 1.0)
    # the inbox keeps no label under its floor: compared with the 6 test segments at 0.95 (≥ 0.8)
    assert (inbox_day["confidence_floor"], inbox_day["reference_segments"]) == (0.8, 6)
    assert inbox_day["class_psi"] == pytest.approx(0.0) and inbox_day["confidence_psi"] == pytest.approx(0.0)
    assert {r["reference_version"] for r in daily.iter_rows(named=True)} == {"1"}
    assert matching["reference_segments"] == 10 and matching["confidence_floor"] == 0.0
    # without the floor the same inbox day would read as drift (the 4 "b" at 0.75 it cannot show)
    unfloored = daily_drift(top, {3: _reference()}).filter(pl.col("source") == "inbox").row(0, named=True)
    # o = [1, 1e-4] against e = [0.6, 0.4]: 0.4·ln(1/0.6) + (1e-4 − 0.4)·ln(1e-4/0.4)
    assert unfloored["class_psi"] == pytest.approx(3.5211207006)


def test_breaches_name_the_days_above_the_threshold(tmp_path: Path):
    daily = daily_drift(_top1(tmp_path), {3: _reference()}, floors={"inbox": 0.8})
    over = breaches(daily, 0.2)
    assert over.select("source", "day").rows() == [("served", SHIFTED)]
    assert describe(over) == ("served 1/3 2026-12-02: class PSI 17.745, confidence PSI 17.745 (4 windows)")
    assert breaches(daily, 20.0).is_empty()
    assert describe(pl.concat([over] * 3), limit=2).endswith("; … and 1 more")


def test_no_rows_give_an_empty_frame_of_the_table_schema():
    empty = pl.DataFrame(
        schema=dict.fromkeys(["source", "day", "unit", "model_version", "label_key"], pl.String)
    )
    empty = empty.with_columns(
        pl.lit(None, pl.Int64).alias("octave"), pl.lit(None, pl.Float64).alias("probability")
    )
    daily = daily_drift(empty, {3: _reference()})
    assert daily.is_empty() and daily.columns[:3] == ["source", "octave", "day"]


def test_the_figure_is_a_deterministic_png(tmp_path: Path):
    top = _top1(tmp_path)
    daily = daily_drift(top, {3: _reference()}, floors={"inbox": 0.8})
    assert latest_shares(top, "served", 3) == (SHIFTED, {"c": 1.0})
    png = drift_png(daily, top, {3: _reference()}, 0.2, names={"a": "dog"})
    assert png == drift_png(daily, top, {3: _reference()}, 0.2, names={"a": "dog"})
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (700, 680)
    assert len(png) < 150_000  # small enough to embed in the UI's Markdown
    json.dumps(daily.to_dicts())  # plain values: what the catalog and metadata get
