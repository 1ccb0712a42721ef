"""A generated set of hostile and unusual inputs for one class folder, each with its expected grade.

Used by the tests (manifest grading, and manifest → segments → embeddings → spectrograms in one
run) and handy for trying a new decoder. Every entry says what the manifest must do with it:
``ok`` (with the segments it must give under the default settings, and a pattern its repair
must match), ``failed`` (a pattern the reason must match) or ``ignored`` (no row: hidden
entries, folders). Signals come from generators seeded by stable hashes, so the set is the same
on every machine.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
from scipy.io import wavfile

from sec_assets.core.hashing import stable_seed

Grade = Literal["ok", "failed", "ignored"]
LONG_SECONDS = 600.0  # the 10-minute file
LONG_RATE = 8000


@dataclass(frozen=True)
class BadInput:
    kind: str
    relative_path: str  # under the class folder
    expect: Grade
    pattern: str = ""  # regex: the error (failed) or the repair (ok); "" for none
    segments: int | None = None  # round-0 segments under the default settings (ok entries)


def _rng(kind: str) -> np.random.Generator:
    return np.random.default_rng(stable_seed(0, "bad-audio", kind))


def _tone(seconds: float, rate: int, channels: int = 1, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * 440.0 * t)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1) if channels > 1 else mono


def _encoded(data: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _wav_bytes(data: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    return _encoded(data, rate, "WAV", subtype)


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    out[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(out)


def _float_wav(path: Path, data: np.ndarray, rate: int) -> None:
    """Float WAV via scipy (libsndfile stamps a wall-clock PEAK chunk and normalises nothing)."""
    wavfile.write(path, rate, data)


def _with_bad_samples(values: list[float], at_s: float = 0.04) -> np.ndarray:
    x = _tone(0.5, 8000).astype(np.float32)
    start = round(at_s * 8000)
    x[start : start + len(values)] = values
    return x


Writer = Callable[[Path], None]


def _entries() -> list[tuple[BadInput, Writer]]:
    good_wav = _wav_bytes(_tone(1.0, 8000), 8000)
    data_size_at = good_wav.index(b"data") + 4
    flac = _encoded(_rng("flac").standard_normal(100_000).astype(np.float32) * 0.1, 16000, "FLAC", "PCM_16")
    nan = [float("nan")] * 312
    return [
        (BadInput("empty", "empty.wav", "failed", r"^empty file \(0 bytes\)"), lambda p: p.write_bytes(b"")),
        (
            BadInput("zero-length", "zero_length.wav", "failed", r"^no audio frames: header only"),
            lambda p: p.write_bytes(_wav_bytes(np.zeros(0, dtype=np.float32), 8000)),
        ),
        (
            BadInput("text as mp3", "notes.mp3", "failed", r"^not audio: the file holds text, not MP3"),
            lambda p: p.write_text("field notes: two calls at dawn\n" * 20),
        ),
        (
            BadInput("text as wav", "readme.wav", "failed", r"^not audio: the file holds text, not WAV"),
            lambda p: p.write_text("not a recording\n"),
        ),
        (
            BadInput("random bytes wav", "random.wav", "failed", r"^not audio: no WAV or other audio header"),
            lambda p: p.write_bytes(_rng("rw").integers(0, 256, 4000, dtype=np.uint8).tobytes()),
        ),
        (
            BadInput("random bytes flac", "random.flac", "failed", r"^not audio: no FLAC"),
            lambda p: p.write_bytes(_rng("rf").integers(0, 256, 4000, dtype=np.uint8).tobytes()),
        ),
        (
            BadInput("random bytes ogg", "random.ogg", "failed", r"^not audio: no OGG"),
            lambda p: p.write_bytes(_rng("ro").integers(0, 256, 4000, dtype=np.uint8).tobytes()),
        ),
        (
            BadInput("header only", "header_only.wav", "failed", r"^no audio frames: header only"),
            lambda p: p.write_bytes(good_wav[:44]),
        ),
        (
            BadInput("truncated header", "truncated_header.wav", "failed", r"^truncated header: 20 bytes"),
            lambda p: p.write_bytes(good_wav[:20]),
        ),
        (
            BadInput(
                "truncated flac",
                "truncated.flac",
                "failed",
                r"^truncated: decoding stopped after \d+ of 100000",
            ),
            lambda p: p.write_bytes(flac[: len(flac) // 2]),
        ),
        (
            # the data chunk claims ten times the bytes present: the frames that decode are used
            BadInput("lying length", "lying_length.wav", "ok", segments=1),
            lambda p: p.write_bytes(_patched(good_wav, data_size_at, "<I", 10 * (len(good_wav) - 44))),
        ),
        (
            BadInput("zero channels", "zero_channels.wav", "failed", r"^invalid header: 0 channels"),
            lambda p: p.write_bytes(_patched(good_wav, 22, "<H", 0)),
        ),
        (
            BadInput("zero rate", "zero_rate.wav", "failed", r"^invalid header: 1 channels at 0 Hz"),
            lambda p: p.write_bytes(_patched(good_wav, 24, "<I", 0)),
        ),
        (
            # 200 channels: 8000 mono frames read as 40 frames of 200 channels, 5 ms
            BadInput("lying channels", "lying_channels.wav", "failed", r"^too short: 0\.0050 s"),
            lambda p: p.write_bytes(_patched(good_wav, 22, "<H", 200)),
        ),
        (
            BadInput(
                "unsupported encoding", "codec.wav", "failed", r"^unsupported encoding: WAV format tag 0x1234"
            ),
            lambda p: p.write_bytes(_patched(good_wav, 20, "<H", 0x1234)),
        ),
        (
            BadInput("NaN samples", "nan.wav", "failed", r"^312 NaN samples at 0\.040–0\.079 s"),
            lambda p: _float_wav(p, _with_bad_samples(nan), 8000),
        ),
        (
            BadInput("inf samples", "inf.wav", "failed", r"^2 \+inf and 1 -inf samples at 0\.040–0\.040 s"),
            lambda p: _float_wav(p, _with_bad_samples([np.inf, -np.inf, np.inf]), 8000),
        ),
        (
            BadInput(
                "huge float samples", "huge.wav", "ok", r"^peak \d{6} beyond full scale \(±1\): scaled by", 1
            ),
            lambda p: _float_wav(p, (_tone(0.5, 8000) * 1e6).astype(np.float32), 8000),
        ),
        (
            BadInput("silence", "silence.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(np.zeros(8000), 8000)),
        ),
        (
            BadInput("DC", "dc.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(np.full(8000, 0.5), 8000)),
        ),
        (
            BadInput(
                "one sample", "one_sample.wav", "failed", r"^too short: 0\.0001 s.*min_clip_seconds = 0\.1"
            ),
            lambda p: p.write_bytes(_wav_bytes(np.array([0.5]), 8000)),
        ),
        (
            BadInput("10 ms", "ten_ms.wav", "failed", r"^too short: 0\.0100 s"),
            lambda p: p.write_bytes(_wav_bytes(_tone(0.01, 8000), 8000)),
        ),
        (
            BadInput("exactly the minimum clip", "min_clip.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(0.1, 8000), 8000)),
        ),
        (
            BadInput("8 channels", "eight_channels.flac", "ok", segments=1),
            lambda p: sf.write(p, _tone(1.0, 16000, channels=8), 16000, format="FLAC"),
        ),
        (
            BadInput("4 kHz", "rate_4k.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(1.0, 4000), 4000)),
        ),
        (
            BadInput("192 kHz", "rate_192k.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(1.0, 192000), 192000)),
        ),
        (
            BadInput("u-law", "ulaw.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(1.0, 8000), 8000, "ULAW")),
        ),
        (
            BadInput("a-law", "alaw.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(1.0, 8000), 8000, "ALAW")),
        ),
        (
            BadInput("float64", "float64.wav", "ok", segments=1),
            lambda p: _float_wav(p, _tone(1.0, 8000).astype(np.float64), 8000),
        ),
        (
            BadInput("upper-case extension", "LOUD.WAV", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(1.0, 8000, amplitude=0.9), 8000)),
        ),
        (
            BadInput("odd name", "take 1, mic|2 \"quoted\" 'single' ünïcødé 🐦.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(0.7, 8000), 8000)),
        ),
        (
            BadInput(
                "deep nesting", "/".join(f"level{i}" for i in range(10)) + "/deep.ogg", "ok", segments=1
            ),
            lambda p: sf.write(p, _tone(1.0, 22050), 22050, format="OGG", subtype="VORBIS"),
        ),
        (
            BadInput("mp3", "call.mp3", "ok", segments=1),
            lambda p: sf.write(p, _tone(1.5, 32000), 32000, format="MP3", subtype="MPEG_LAYER_III"),
        ),
        (
            # same bytes as dc.wav: one file for the segmenter (segments are counted per sha256)
            BadInput("duplicate content", "copy_of_dc.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(np.full(8000, 0.5), 8000)),
        ),
        (BadInput("hidden file", ".hidden.wav", "ignored"), lambda p: p.write_bytes(good_wav)),
        (BadInput("hidden folder", ".cache/inside.wav", "ignored"), lambda p: p.write_bytes(good_wav)),
        (
            BadInput("folder named like audio", "folder.wav/inside.wav", "ok", segments=1),
            lambda p: p.write_bytes(_wav_bytes(_tone(0.3, 8000), 8000)),
        ),
        (
            BadInput(
                "broken symlink", "dangling.wav", "failed", r"^broken symbolic link \(to .*missing\.wav\)"
            ),
            lambda p: os.symlink(p.parent / "missing.wav", p),
        ),
        (
            BadInput(
                "not an audio extension", "notes.txt", "failed", r"^not an audio file \(extension '\.txt'\)"
            ),
            lambda p: p.write_text("sidecar notes"),
        ),
        (
            # 600 s at 8 kHz → 85 full 7-s windows and a 5-s tail (≥ min_segment_seconds): 86
            BadInput("10-minute file", "long/ten_minutes.flac", "ok", segments=86),
            lambda p: sf.write(p, _tone(LONG_SECONDS, LONG_RATE, amplitude=0.2), LONG_RATE, format="FLAC"),
        ),
    ]


def write_bad_inputs(class_dir: Path) -> list[BadInput]:
    """Write every entry under ``class_dir`` and return the expectations."""
    class_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for entry, write in _entries():
        path = class_dir / entry.relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        out.append(entry)
    return out
