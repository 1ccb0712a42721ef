"""Inference windows (the training segmenter, clean) and the result tables."""

import csv
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import soundfile as sf

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams, decode_audio
from sec_assets.core.inference.tables import RAVEN_COLUMNS, raven_table, result_csv, top_k
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.testing.signals import tone

RATE = 16000


def _windows(path: Path, params: WindowParams) -> pl.DataFrame:
    seg = params.segment_params(SegmentParams(sample_rate=RATE))
    source, row = grade(path, path.parent, FilePolicy())
    assert source is not None and row["status"] == "ok"
    return pl.concat(list(recording_windows(source, seg, batch=5)))


def test_a_60_s_recording_gives_12_clean_windows_at_5_s(tmp_path: Path):
    path = tmp_path / "field.wav"
    sf.write(path, tone(440.0, 60 * RATE, RATE, amplitude=0.5), RATE)
    rows = _windows(path, WindowParams())
    assert rows.height == 12 and rows["window"].to_list() == list(range(12))
    assert rows["start_s"].to_list() == [5.0 * i for i in range(12)]
    assert rows["end_s"].to_list() == [5.0 * (i + 1) for i in range(12)]
    assert not any(rows["padded"])
    audio = decode_audio(rows["audio"][3])
    expected = tone(440.0, 60 * RATE, RATE, amplitude=0.5)[15 * RATE : 20 * RATE]
    np.testing.assert_allclose(audio, expected, atol=1e-3)  # the recording as it is (float16), no noise
    assert rows["segment_key"][0].startswith("inbox:") and rows["segment_key"][0].endswith(":0:00000")


@pytest.mark.parametrize(
    ("seconds", "hop", "count", "last_padded"),
    [(62.5, None, 13, True), (60.5, None, 12, False), (20.0, 2.5, 7, False), (3.0, None, 1, True)],
)
def test_the_last_partial_window_follows_the_training_rule(tmp_path, seconds, hop, count, last_padded):
    path = tmp_path / "x.wav"
    sf.write(path, tone(300.0, int(seconds * RATE), RATE, amplitude=0.3), RATE)
    rows = _windows(path, WindowParams(hop_seconds=hop))
    assert rows.height == count and rows["padded"][-1] == last_padded
    assert all(len(decode_audio(a)) == 5 * RATE for a in rows["audio"])  # padded to a full window


def test_top_k_with_a_minimum_confidence_and_the_two_table_formats():
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.05, 0.9, 0.05]])
    table = top_k(proba, ["bird", "frog", "wind"], [0, 1, 2], [0.0, 5.0, 10.0], [5.0, 10.0, 15.0], 2, 0.25)
    assert table.select("window", "rank", "label", "probability").rows() == [
        (0, 1, "bird", 0.7),
        (1, 1, "wind", 0.4),
        (1, 2, "bird", 0.3),  # bird and frog tie at 0.3: the class listed first
        (2, 1, "frog", 0.9),
    ]
    assert result_csv(table).splitlines()[:2] == [
        "start_s,end_s,label,probability",
        "0.0000,5.0000,bird,0.7000",
    ]
    reader = csv.DictReader(io.StringIO(raven_table(table, 20.0, 8000.0)), delimiter="\t")
    assert tuple(reader.fieldnames or ()) == RAVEN_COLUMNS
    rows = list(reader)
    assert [r["Selection"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[1]["Begin Time (s)"] == "5.0000" and rows[1]["End Time (s)"] == "10.0000"
    assert rows[3]["Label"] == "frog" and float(rows[3]["Probability"]) == 0.9
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        top_k(proba, ["a", "b", "c"], [0, 1, 2], [0, 0, 0], [1, 1, 1], 0, 0.0)


def test_an_unusable_recording_gets_the_manifests_reason(tmp_path: Path):
    (tmp_path / "notes.wav").write_text("not audio at all")
    source, row = grade(tmp_path / "notes.wav", tmp_path, FilePolicy())
    assert source is None and row["status"] == "failed"
    assert row["error"].startswith("not audio: the file holds text")
