"""The generated bad-input set graded by the manifest, sample repairs, and bounded memory on a
10-minute file (no Dagster: core functions on files the tests write)."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.io import wavfile

from sec_assets.core.audio.audio_io import probe
from sec_assets.core.audio.manifest import FilePolicy, scan_class, source_files
from sec_assets.core.audio.samples import SamplePolicy, SampleRejected
from sec_assets.core.audio.segments import (
    SegmentParams,
    decode_audio,
    encode_audio,
    plan_class,
    segment_source,
)
from sec_assets.testing.bad_audio import LONG_RATE, LONG_SECONDS, write_bad_inputs


@pytest.fixture(scope="module")
def bad_class(tmp_path_factory: pytest.TempPathFactory):
    class_dir = tmp_path_factory.mktemp("landing") / "hostile"
    return class_dir, write_bad_inputs(class_dir)


def test_every_bad_input_is_graded_as_documented(bad_class):
    class_dir, entries = bad_class
    assert len({e.kind for e in entries}) >= 30
    manifest = scan_class(class_dir, "hostile", "hostile")
    rows = {r["relative_path"]: r for r in manifest.iter_rows(named=True)}
    expected_rows = {e.relative_path for e in entries if e.expect != "ignored"}
    assert set(rows) == expected_rows  # hidden entries and folders get no row; everything else one
    for e in entries:
        if e.expect == "ignored":
            continue
        row = rows[e.relative_path]
        assert row["status"] == e.expect, (e.kind, row["error"])
        if e.expect == "failed":
            assert re.search(e.pattern, row["error"]), (e.kind, row["error"])
            assert "File does not exist" not in row["error"].split("(libsndfile")[0]
        else:
            note = row["repair"] or ""
            assert re.search(e.pattern, note) if e.pattern else note == "", (e.kind, note)
            assert row["error"] is None and row["non_finite"] == 0
    long = rows["long/ten_minutes.flac"]
    assert (long["sample_rate"], long["frames"]) == (LONG_RATE, LONG_SECONDS * LONG_RATE)
    huge = rows["huge.wav"]
    assert huge["peak"] > 2.9e5 and huge["repair_scale"] == pytest.approx(1 / huge["peak"])


def _segment_peak(class_dir: Path, params: SegmentParams) -> tuple[int, int]:
    """(segments, peak traced bytes) of segmenting the one file under ``class_dir``."""
    sources, _ = source_files(scan_class(class_dir, "hostile", "hostile"))
    plan = plan_class(sources, params, "hostile")[sources[0].sha256]
    tracemalloc.start()
    count = sum(1 for _ in segment_source(sources[0], plan, "hostile", params))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def test_the_ten_minute_file_streams_in_bounded_memory(bad_class, tmp_path: Path):
    class_dir, _ = bad_class
    params = SegmentParams()
    count, peak = _segment_peak(class_dir / "long", params)
    assert count == 86
    one_minute = tmp_path / "one_minute"
    one_minute.mkdir()
    x = 0.2 * np.sin(2 * np.pi * 440 * np.arange(60 * LONG_RATE) / LONG_RATE)
    sf.write(one_minute / "a.flac", x, LONG_RATE)
    short_count, short_peak = _segment_peak(one_minute, params)
    assert short_count == 9
    # memory does not grow with the file: ten times the audio, about the same peak, far below the
    # 106 MB the decoded file would take at 44.1 kHz
    assert peak < 1.25 * short_peak, (peak, short_peak)
    assert peak < LONG_SECONDS * params.sample_rate * 4 / 3


def _nan_file(path: Path) -> None:
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.float32)
    x[100:110] = np.nan
    x[500] = np.inf
    wavfile.write(path, 8000, x)


def test_non_finite_samples_are_zeroed_when_the_policy_says_so(tmp_path: Path):
    class_dir = tmp_path / "c"
    class_dir.mkdir()
    _nan_file(class_dir / "nan.wav")
    failed = scan_class(class_dir, "c", "c").row(0, named=True)
    assert failed["status"] == "failed" and failed["non_finite"] == 11
    assert failed["error"].startswith("10 NaN and 1 +inf samples at 0.013–0.063 s")
    policy = FilePolicy(samples=SamplePolicy(non_finite="zero"))
    manifest = scan_class(class_dir, "c", "c", policy=policy)
    row = manifest.row(0, named=True)
    assert row["status"] == "ok" and row["repair_zero"] and row["repair"].endswith("set to 0")
    sources, _ = source_files(manifest)
    params = SegmentParams(noise_mix=0.0)
    segments = list(
        segment_source(sources[0], plan_class(sources, params, "c")[sources[0].sha256], "c", params)
    )
    assert len(segments) == 1 and segments[0].repair == row["repair"]
    audio = segments[0].audio
    assert np.all(np.isfinite(audio)) and 0.25 < np.max(np.abs(audio)) < 0.35


@pytest.mark.parametrize(
    ("policy", "status", "expected"),
    [
        ("scale", "ok", r"^peak 4 beyond full scale \(±1\): scaled by 0\.25 \(-12\.0 dB\)$"),
        ("clip", "ok", r"^peak 4 beyond full scale \(±1\): clipped to ±1$"),
        ("fail", "failed", r"^peak 4 beyond full scale \(±1\) \(over_full_scale = 'fail'"),
    ],
)
def test_over_full_scale_samples_follow_the_policy(tmp_path: Path, policy, status, expected):
    class_dir = tmp_path / "c"
    class_dir.mkdir()
    x = (4.0 * np.sin(2 * np.pi * 100 * np.arange(8000) / 8000 + 0.5)).astype(np.float32)
    x[0] = 4.0
    wavfile.write(class_dir / "loud.wav", 8000, x)
    rule = FilePolicy(samples=SamplePolicy(over_full_scale=policy))
    row = scan_class(class_dir, "c", "c", policy=rule).row(0, named=True)
    assert row["status"] == status and row["peak"] == 4.0
    assert re.search(expected, row["repair"] if status == "ok" else row["error"])
    if status == "ok":
        sources, _ = source_files(scan_class(class_dir, "c", "c", policy=rule))
        params = SegmentParams(noise_mix=0.0, sample_rate=8000)
        seg = next(
            segment_source(sources[0], plan_class(sources, params, "c")[sources[0].sha256], "c", params)
        )
        assert np.max(np.abs(seg.audio)) == pytest.approx(1.0, abs=1e-3)
        assert np.max(np.abs(decode_audio(encode_audio(seg.audio)))) <= 1.001  # float16 holds it


def test_the_segment_encoder_never_stores_nan_inf_or_overflow():
    with pytest.raises(ValueError, match="2 non-finite samples"):
        encode_audio(np.array([0.0, np.nan, np.inf], dtype=np.float32))
    with pytest.raises(ValueError, match="exceeds what float16 storage holds"):
        encode_audio(np.array([1e5], dtype=np.float32))
    assert decode_audio(encode_audio(np.array([65504.0, -1.0]))).tolist() == [65504.0, -1.0]


def test_short_clips_give_one_padded_segment_down_to_the_minimum(tmp_path: Path):
    params = SegmentParams(sample_rate=8000)
    for seconds, expected in ((0.14, 1), (0.87, 1), (0.1, 1), (0.099, 0)):
        path = tmp_path / f"clip_{seconds}.wav"
        sf.write(path, 0.3 * np.ones(round(seconds * 8000)), 8000)
        info = probe(path)
        sha = f"{int(seconds * 1000):064d}"
        from sec_assets.core.audio.segments import SourceFile

        plan = plan_class([SourceFile(path, sha, info.sample_rate, info.frames)], params, "digits")
        assert len(plan[sha]) == expected, seconds
        if expected:
            seg = next(
                segment_source(SourceFile(path, sha, info.sample_rate, info.frames), plan[sha], "d", params)
            )
            assert seg.padded and seg.audio.size == params.segment_frames
            assert seg.duration_s == pytest.approx(seconds, abs=1 / 8000)


def test_sample_policy_rejects_with_what_was_found():
    from sec_assets.core.audio.samples import SampleScan

    scan = SampleScan()
    block = np.zeros((16000, 2), dtype=np.float32)
    block[9900:10212, 1] = np.nan  # across the two blocks
    scan.update(block[:10000])
    scan.update(block[10000:])
    with pytest.raises(SampleRejected, match=r"^312 NaN samples at 0\.619–0\.638 s"):
        SamplePolicy().decide(scan, 16000)
    assert scan.peak == 0.0 and scan.frames == 16000
