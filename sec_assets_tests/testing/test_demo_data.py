"""The demo dataset is the same to the byte on every run and machine."""

from pathlib import Path

from sec_assets.core.audio.audio_io import probe
from sec_assets.core.hashing import file_sha256
from sec_assets.demo.data import write_demo_dataset


def test_demo_dataset_is_byte_deterministic_and_decodes_as_declared(tmp_path: Path):
    a = write_demo_dataset(tmp_path / "a", files_per_class=6)
    b = write_demo_dataset(tmp_path / "b", files_per_class=6)
    assert len(a) == 31 and sum(f.corrupt for f in a) == 1
    assert {f.path.suffix for f in a} == {".wav", ".flac", ".ogg", ".mp3"}
    for x, y in zip(a, b, strict=True):
        assert file_sha256(x.path) == file_sha256(y.path), x.path.name
        if not x.corrupt:
            info = probe(x.path)
            assert (info.sample_rate, info.channels, info.frames) == (x.sample_rate, x.channels, x.frames)
    assert len({f.audio_class for f in a}) == 5
