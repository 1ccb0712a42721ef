"""Labelling a stream of recordings: windows batched across recordings give the same rows as
one recording at a time, whatever the batch size; recordings come out in input order."""

from pathlib import Path

import polars as pl
import pytest
import soundfile as sf
import torch

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams
from sec_assets.core.features import clap, clap_store
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import label_recording, label_recordings
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.testing.signals import chirp, tone
from sec_assets.testing.tiny_champion import tiny_champion

RATE = 16000


@pytest.fixture(scope="module")
def setup(model_store: Path, tmp_path_factory: pytest.TempPathFactory):
    torch.set_num_threads(2)
    folder = tmp_path_factory.mktemp("stream")
    signals = {
        "a.wav": tone(440.0, 12 * RATE, RATE, amplitude=0.3),  # 2 windows + a 2-s remainder, padded
        "b.wav": chirp(200.0, 2000.0, 3 * RATE, RATE),  # shorter than a window: one padded window
        "c.wav": tone(900.0, 23 * RATE, RATE, amplitude=0.2),  # 4 windows + a 3-s remainder
    }
    for name, x in signals.items():
        sf.write(folder / name, x, RATE)
    sources = []
    for name in signals:
        source, _ = grade(folder / name, folder, FilePolicy())
        assert source is not None
        sources.append(source)
    params = WindowParams().segment_params(SegmentParams(sample_rate=RATE))
    featurizer = Featurizer(
        clap.load_clap(clap_store.resolve_model_files(model_store, allow_random_init=True), device="cpu"),
        [LevelParams(n=3, sample_rate=RATE)],
    )
    first, _ = featurizer.features(next(recording_windows(sources[2], params)))
    return sources, params, featurizer, tiny_champion(first[3], 3)


def test_batches_across_recordings_change_nothing(setup):
    sources, params, featurizer, champion = setup
    names = {"a": "Alpha", "b": "Beta"}
    alone = [label_recording(s, params, featurizer, [champion], names, 2, 0.0) for s in sources]
    assert [x.windows for x in alone] == [3, 1, 5]
    assert all(x.rows.height == 2 * x.windows for x in alone)
    for batch in (1, 2, 4, 64):
        streamed = list(
            label_recordings(iter(sources), params, featurizer, [champion], names, 2, 0.0, batch=batch)
        )
        assert [x.source.sha256 for x in streamed] == [s.sha256 for s in sources]
        for one, other in zip(alone, streamed, strict=True):
            assert other.windows == one.windows and other.failures == []
            assert other.rows.equals(one.rows), batch  # probabilities bit for bit
    rows = pl.concat([x.rows for x in alone])
    assert rows.select("window_seconds", "hop_seconds").unique().rows() == [(5.0, 5.0)]  # the window cut
    assert rows.group_by("recording_sha256").agg(pl.col("path").n_unique())["path"].to_list() == [1, 1, 1]
    assert set(rows["label"]) <= {"Alpha", "Beta", "c", "d"}
    assert set(rows.filter(pl.col("label") == "Alpha")["label_key"]) <= {"a"}
    assert rows.filter(pl.col("path").str.ends_with("c.wav"))["window_index"].unique().sort().to_list() == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_an_error_while_grading_stops_the_stream(setup):
    sources, params, featurizer, champion = setup

    def graded():
        yield sources[0]
        raise OSError("storage went away")

    with pytest.raises(OSError, match="storage went away"):
        list(label_recordings(graded(), params, featurizer, [champion], {}, 1, 0.0, batch=2))
