"""The audio-format filter (setting ``audio_formats``): which files a class manifest lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sec_assets.core.audio.manifest import scan_class
from sec_assets.core.settings import SettingsError, load_settings


def _class(tmp_path: Path) -> Path:
    folder = tmp_path / "birds"
    (folder / "night").mkdir(parents=True)
    tone = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    sf.write(folder / "a.wav", tone, 8000)
    sf.write(folder / "night" / "b.FLAC", tone, 8000)
    sf.write(folder / "c.ogg", tone, 8000, format="OGG", subtype="VORBIS")
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_the_filter_lists_only_those_extensions(tmp_path):
    folder = _class(tmp_path)
    every = scan_class(folder, "birds", "birds", policy=load_settings(env={}).file_policy())
    assert sorted(every["relative_path"]) == ["a.wav", "c.ogg", "night/b.FLAC", "notes.txt"]
    assert every.filter(every["status"] == "failed")["relative_path"].to_list() == ["notes.txt"]
    lossless = load_settings(env={}, audio_formats="wav, FLAC").file_policy()
    assert lossless.formats == ("flac", "wav")
    kept = scan_class(folder, "birds", "birds", policy=lossless)
    assert sorted(kept["relative_path"]) == ["a.wav", "night/b.FLAC"]  # case-insensitive, nested
    assert set(kept["status"]) == {"ok"}


def test_formats_are_checked_where_they_enter():
    assert load_settings(env={}, audio_formats=[".Wav", "mp3", "wav"]).audio_formats == ("mp3", "wav")
    assert load_settings(env={}).audio_formats == ()
    with pytest.raises(SettingsError, match=r"setting 'audio_formats'.*file extensions such as wav"):
        load_settings(env={}, audio_formats=["wav", "*.mp3"])
