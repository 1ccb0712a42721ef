"""A small, deterministic demo dataset of distinguishable sound events.

Five classes (tones, chirps, noise bursts, clicks, harmonic hums) written in mixed formats,
sample rates and channel counts, plus one corrupt file, so the demo exercises decoding,
resampling, mixing down and failure handling. Every signal comes from a generator seeded by a
stable hash of (class, file index): the same dataset on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.io import wavfile

from sec_assets.core.hashing import stable_seed

Synth = Callable[[np.random.Generator, int, float], np.ndarray]


def _t(sr: int, dur: float) -> np.ndarray:
    return np.arange(round(sr * dur)) / sr


def tone(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    f = rng.uniform(600, 1200)
    return 0.5 * np.sin(2 * np.pi * f * _t(sr, dur))


def chirp(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    t = _t(sr, dur)
    f0, f1 = rng.uniform(200, 500), rng.uniform(3000, 6000)
    period = rng.uniform(0.8, 1.5)
    phase_t = t % period
    k = (f1 - f0) / period
    return 0.5 * np.sin(2 * np.pi * (f0 * phase_t + 0.5 * k * phase_t**2))


def noise_burst(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    t = _t(sr, dur)
    gate = (np.sin(2 * np.pi * rng.uniform(1.0, 2.0) * t) > 0.3).astype(float)
    return 0.3 * rng.standard_normal(t.size) * gate


def clicks(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    out = np.zeros(round(sr * dur))
    step = round(sr / rng.uniform(8, 15))
    width = max(1, sr // 2000)
    for start in range(rng.integers(0, step), out.size - width, step):
        out[start : start + width] = rng.choice([-0.9, 0.9])
    return out


def hum(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    t = _t(sr, dur)
    f = rng.choice([50.0, 60.0]) * rng.uniform(0.98, 1.02)
    return sum(0.4 / h * np.sin(2 * np.pi * f * h * t + rng.uniform(0, 6.28)) for h in range(1, 6))


CLASSES: dict[str, Synth] = {
    "tone": tone,
    "chirp": chirp,
    "noise burst": noise_burst,
    "click": clicks,
    "harmonic_hum": hum,
}
# (extension, soundfile format, subtype, sample rate, channels) cycled over files
FORMATS = [
    ("wav", "WAV", "PCM_16", 44100, 1),
    ("flac", "FLAC", "PCM_24", 48000, 2),
    ("ogg", "OGG", "VORBIS", 22050, 1),
    ("mp3", "MP3", "MPEG_LAYER_III", 32000, 1),
    ("wav", "WAV", "FLOAT", 16000, 2),
    ("wav", "WAV", "PCM_U8", 22050, 1),
]


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def fix_ogg_serial(path: Path, serial: int) -> None:
    """Replace the random stream serial number libsndfile writes into every Ogg page.

    Written by hand because no library exposes it: the serial sits at bytes 14–18 of each page
    header and each page's CRC (Ogg's own CRC-32, not zlib's) must be recomputed.
    """
    data = bytearray(path.read_bytes())
    pos = 0
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError(f"{path}: not an Ogg page at byte {pos}")
        n_segments = data[pos + 26]
        length = 27 + n_segments + sum(data[pos + 27 : pos + 27 + n_segments])
        data[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        data[pos + 22 : pos + 26] = bytes(4)
        data[pos + 22 : pos + 26] = _ogg_crc(bytes(data[pos : pos + length])).to_bytes(4, "little")
        pos += length
    path.write_bytes(bytes(data))


def write_deterministic(path: Path, data: np.ndarray, sr: int, fmt: str, subtype: str) -> None:
    """Write audio whose bytes depend only on the samples.

    libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock time and gives each Ogg
    stream a random serial number; float WAV is written with scipy instead, and Ogg serials are
    fixed afterwards.
    """
    if fmt == "WAV" and subtype == "FLOAT":
        wavfile.write(path, sr, data)
        return
    sf.write(path, data, sr, format=fmt, subtype=subtype)
    if fmt == "OGG":
        fix_ogg_serial(path, serial=0x5EC0A55E)


@dataclass(frozen=True)
class DemoFile:
    audio_class: str
    path: Path
    sample_rate: int
    channels: int
    frames: int
    corrupt: bool = False


def write_demo_dataset(root: Path, files_per_class: int = 6, seed: int = 0) -> list[DemoFile]:
    """Write the dataset under ``root/<class>/…`` and return the generator's truth."""
    truth: list[DemoFile] = []
    for cls, synth in CLASSES.items():
        for i in range(files_per_class):
            ext, fmt, subtype, sr, channels = FORMATS[i % len(FORMATS)]
            rng = np.random.default_rng(stable_seed(seed, "demo", cls, i))
            dur = float(np.round(rng.uniform(3.0, 12.0), 1))
            mono = synth(rng, sr, dur)
            data = np.stack([mono, 0.8 * mono], axis=1) if channels == 2 else mono
            sub = "session_a" if i % 2 else "session_b"  # nested folders are allowed
            path = root / cls / sub / f"{cls.replace(' ', '_')}_{i:02d}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_deterministic(path, np.clip(data, -1, 1).astype(np.float32), sr, fmt, subtype)
            with sf.SoundFile(path) as fh:  # lossy codecs pad: the truth is what decodes
                frames = sum(b.shape[0] for b in fh.blocks(blocksize=1 << 16, always_2d=True))
            truth.append(DemoFile(cls, path, sr, channels, frames))
    broken = root / "click" / "broken_upload.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64)))
    truth.append(DemoFile("click", broken, 0, 0, 0, corrupt=True))
    (root / "click" / ".DS_Store").write_bytes(b"hidden files are ignored")
    return truth
