"""Segments: hostile inputs, rounds, stored augmentation, regeneration, cross-process determinism."""

import hashlib
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sec_assets.core.audio.audio_io import probe, resampled_length
from sec_assets.core.audio.segments import (
    SegmentParams,
    SourceFile,
    decode_audio,
    encode_audio,
    plan_class,
    regenerate_segment,
    segment_file,
    segment_source,
)
from sec_assets.testing.signals import tone

SR = 44100


def _source(path: Path) -> SourceFile:
    info = probe(path)
    return SourceFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), info.sample_rate, info.frames)


def _write(path: Path, data: np.ndarray, rate: int, **kw) -> Path:
    sf.write(path, data, rate, **kw)
    return path


@pytest.mark.parametrize(
    "name,rate,subtype,fmt,channels",
    [
        ("u8.wav", 16000, "PCM_U8", "WAV", 1),
        ("s24.wav", 48000, "PCM_24", "WAV", 2),
        ("f32.wav", 22050, "FLOAT", "WAV", 1),
        ("mp3_8k.mp3", 8000, "MPEG_LAYER_III", "MP3", 1),
    ],
)
def test_formats_decode_to_exact_segment_counts(tmp_path: Path, name, rate, subtype, fmt, channels):
    seconds = 16.0
    x = tone(440, int(seconds * rate), rate, amplitude=0.4)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    path = _write(tmp_path / name, data.astype(np.float32), rate, subtype=subtype, format=fmt)
    src = _source(path)
    params = SegmentParams(noise_mix=0.0)
    segs = list(segment_source(src, plan_class([src], params, "c")[src.sha256], "c", params))
    n = resampled_length(src.frames, src.sample_rate, SR)
    assert len(segs) == (3 if n - 2 * 7 * SR >= SR else 2)  # two full windows (+ a padded tail ≥ 1 s)
    audio = segs[0].audio
    assert audio.size == 7 * SR
    peak_hz = np.argmax(np.abs(np.fft.rfft(audio))) * SR / audio.size
    assert abs(peak_hz - 440) < 2  # resampled to 44.1 kHz, not played at the file's rate
    assert 0.2 < np.sqrt(np.mean(audio**2)) < 0.35  # 0.4 amplitude sine, channel mean not sum


def test_channel_policy_mean_or_index(tmp_path: Path):
    left = tone(300, SR * 2, SR, amplitude=0.5)
    path = _write(
        tmp_path / "st.wav", np.stack([left, -left], axis=1).astype(np.float32), SR, subtype="FLOAT"
    )
    src = _source(path)
    mean = next(segment_file(path, "c", src.sha256, SegmentParams(noise_mix=0.0)))
    assert np.max(np.abs(mean.audio)) < 1e-6
    right = next(segment_file(path, "c", src.sha256, SegmentParams(noise_mix=0.0, channel=1)))
    assert np.max(np.abs(right.audio[: 2 * SR] + left[: 2 * SR])) < 1e-6
    with pytest.raises(Exception, match="channel 5"):
        next(segment_file(path, "c", src.sha256, SegmentParams(channel=5)))


def test_header_claiming_more_frames_than_it_holds(tmp_path: Path):
    path = _write(tmp_path / "cut.wav", tone(500, SR * 10, SR).astype(np.float32), SR, subtype="PCM_16")
    data = path.read_bytes()
    at = data.index(b"data") + 8
    path.write_bytes(data[: at + 2 * SR * 8])  # 8 s left; the header still says 10 s
    assert int.from_bytes(data[at - 4 : at], "little") == 2 * SR * 10
    src = _source(path)
    assert src.frames == SR * 8  # counted by decoding
    segs = list(segment_file(path, "c", src.sha256, SegmentParams(), src.frames, src.sample_rate))
    assert [s.duration_s for s in segs] == [7.0, 1.0] and segs[1].padded


def test_long_file_streams_with_bounded_memory(tmp_path: Path):
    rate = 8000
    minutes = 11
    rng = np.random.default_rng(3)
    path = _write(
        tmp_path / "long.wav", (0.1 * rng.standard_normal(rate * 60 * minutes)).astype(np.float32), rate
    )
    src = _source(path)
    tracemalloc.start()
    count = sum(1 for _ in segment_file(path, "c", src.sha256, SegmentParams(), src.frames, rate))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == minutes * 60 // 7 + 1  # 94 full windows + a 2-s padded tail
    whole_file_at_44k = minutes * 60 * SR * 4
    assert peak < whole_file_at_44k / 3, peak  # a few windows and one block, never the file


def test_rounds_reach_the_target_with_stable_offsets(tmp_path: Path):
    files = [
        _write(tmp_path / f"f{i}.wav", tone(200 + 50 * i, int(SR * s), SR).astype(np.float32), SR)
        for i, s in enumerate((15.0, 9.0, 3.0))
    ]
    sources = [_source(p) for p in files]
    one_pass = plan_class(sources, SegmentParams(), "c")
    assert sum(map(len, one_pass.values())) == 3 + 2 + 1  # 15 s: 7 + 7 + a 1-s padded tail
    params = SegmentParams(target_segments=12)
    plan = plan_class(sources, params, "c")
    windows = [w for ws in plan.values() for w in ws]
    assert len(windows) == 12 and {w.round for w in windows} >= {0, 1, 2}
    assert all(0 < w.start < params.hop_frames for w in windows if w.round > 0 and w.index == 0)
    assert plan == plan_class(list(reversed(sources)), params, "c")  # order of files is irrelevant
    segs = [s for src in sources for s in segment_source(src, plan[src.sha256], "c", params)]
    assert len({s.key for s in segs}) == 12
    # a class with no usable audio ends at once, however high the target
    tiny = _write(tmp_path / "tiny.wav", np.zeros(100, dtype=np.float32), SR)
    assert plan_class([_source(tiny)], SegmentParams(target_segments=10**6), "c") == {
        _source(tiny).sha256: []
    }


def test_stored_augmentation_regenerates_the_same_bytes(tmp_path: Path):
    path = _write(tmp_path / "a.wav", tone(700, SR * 20, SR, amplitude=0.3).astype(np.float32), SR)
    src = _source(path)
    params = SegmentParams(target_segments=6, gain_db_range=(-6.0, 6.0), time_shift_seconds=0.5, seed=9)
    plan = plan_class([src], params, "cls")
    segs = list(segment_source(src, plan[src.sha256], "cls", params))
    assert len(segs) == 6
    assert all(-6 <= s.gain_db <= 6 and abs(s.shift_frames) <= SR // 2 for s in segs)
    assert len({round(s.gain_db, 6) for s in segs}) == 6  # drawn per segment
    for seg in segs:
        again = regenerate_segment(seg.key, src, params)
        assert encode_audio(again.audio) == encode_audio(seg.audio)
        assert (again.gain_db, again.shift_frames, again.seed) == (seg.gain_db, seg.shift_frames, seg.seed)
    # the noise is what the stored values say it is
    seg = segs[0]
    assert seg.noise_rms == pytest.approx(seg.noise_gain, rel=0.01)
    assert np.allclose(decode_audio(encode_audio(seg.audio)), seg.audio, atol=1e-3)


DETERMINISM_SCRIPT = """
import hashlib, sys
import numpy as np, torch
from pathlib import Path
from sec_assets.core.features import octave
from sec_assets.core.audio.audio_io import probe
from sec_assets.core.audio.segments import SegmentParams, SourceFile, plan_class, segment_source, encode_audio
torch.set_num_threads(int(sys.argv[2]))
path = Path(sys.argv[1]); info = probe(path)
src = SourceFile(path, "ab" * 32, info.sample_rate, info.frames)
params = SegmentParams(target_segments=5, gain_db_range=(-3, 3), time_shift_seconds=0.2)
segs = list(segment_source(src, plan_class([src], params, "c")[src.sha256], "c", params))
h = hashlib.sha256()
for s in segs:
    h.update(s.key.encode()); h.update(encode_audio(s.audio))
audio = np.stack([s.audio for s in segs])
levels = octave.fast_levels(audio, 44100, 12, batch_size=int(sys.argv[3]))
print(h.hexdigest(), hashlib.sha256(levels.tobytes()).hexdigest())
"""


def test_segments_and_spectrograms_identical_across_processes(tmp_path: Path):
    rng = np.random.default_rng(1)
    path = _write(tmp_path / "n.flac", (0.2 * rng.standard_normal(48000 * 12)).astype(np.float32), 48000)
    outputs = set()
    for hash_seed, threads, batch in (("0", "1", "1"), ("12345", "2", "4")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, str(path), threads, batch],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(out.stdout.strip())
    assert len(outputs) == 1, outputs


def test_windows_beyond_the_decoded_block_are_cut_from_the_right_samples(tmp_path: Path):
    """The decoder streams 30-s blocks. A plan whose next window starts past the current block —
    one late segment regenerated alone, or hop > segment — must still cut the right samples
    (found by recipe-only storage: the last segment of a 60-s file came back shifted)."""
    x = (np.arange(SR * 100) % 1000 / 1000 - 0.5).astype(np.float32)  # every sample's place is visible
    src = _source(_write(tmp_path / "long.wav", x, SR, subtype="FLOAT"))
    params = SegmentParams(segment_seconds=7.0, hop_seconds=7.0)
    segs = list(segment_file(src.path, "c", src.sha256, params, augment=False))
    assert len(segs) == 15  # 14 whole windows and a repeat-padded 2-s tail
    for seg in segs[-2:]:
        again = regenerate_segment(seg.key, src, params, augment=False)
        assert encode_audio(again.audio) == encode_audio(seg.audio), seg.start_s
    assert segs[-2].start_s == 91.0 and np.array_equal(segs[-2].audio, x[91 * SR : 98 * SR])
    gaps = SegmentParams(segment_seconds=5.0, hop_seconds=40.0)  # windows at 0, 40 and 80 s
    spaced = list(segment_file(src.path, "c", src.sha256, gaps, augment=False))
    assert [s.start_s for s in spaced] == [0.0, 40.0, 80.0]
    for seg in spaced:
        start = round(seg.start_s * SR)
        assert np.array_equal(seg.audio, x[start : start + 5 * SR]), seg.start_s
