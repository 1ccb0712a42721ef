"""Decoding: decodable frames counted, bad files rejected with a reason, mono mix and resampling."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sec_assets.core.audio.audio_io import AudioDecodeError, load_mono, probe


def test_probe_counts_decodable_frames_and_rejects_bad_files(tmp_path: Path):
    good = tmp_path / "a.wav"
    sf.write(good, np.zeros((1600, 2), dtype=np.float32), 16000, subtype="PCM_24")
    info = probe(good)
    assert (info.sample_rate, info.channels, info.frames, info.duration_s) == (16000, 2, 1600, 0.1)
    empty = tmp_path / "b.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty"):
        probe(empty)
    text = tmp_path / "c.txt"
    text.write_text("hello")
    with pytest.raises(AudioDecodeError, match="not an audio file"):
        probe(text)
    garbage = tmp_path / "d.flac"
    garbage.write_bytes(b"fLaC" + bytes(100))
    with pytest.raises(AudioDecodeError, match="damaged FLAC file"):
        probe(garbage)


def test_load_mono_mixes_by_mean_and_resamples(tmp_path: Path):
    sr = 16000
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, -left], axis=1).astype(np.float32), sr, subtype="FLOAT")
    assert np.max(np.abs(load_mono(path, sr))) < 1e-6  # opposite channels cancel: a mean, not a concat
    sf.write(path, np.stack([left, left], axis=1).astype(np.float32), sr, subtype="FLOAT")
    y = load_mono(path, 44100)
    assert y.size == 44100
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 44100 / y.size
    assert abs(peak_hz - 440) <= 1
