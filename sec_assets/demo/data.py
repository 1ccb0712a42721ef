"""A small, deterministic demo dataset of sound events.

Five classes (tones, chirps, noise bursts, clicks, harmonic hums) written in mixed formats,
sample rates and channel counts, plus one corrupt file, so the demo exercises decoding,
resampling, mixing down and failure handling. Every signal comes from a generator seeded by a
stable hash of (class, file index): the same dataset on every machine.

Two variants. The default (``hard=False``, the tests' fixture) is trivially separable: every
model scores 1.0. ``hard=True`` (``sec-assets demo``) is a task whose figures mean something:
every file lies under background noise at a random SNR, a third with a quieter event of another
class; tones and narrow-band noise share the same frequencies and on/off patterns (told apart only
by a band finer than the noise's width: the octave resolution matters); hums overlap the tones'
range; every file is 8.5–13.5 s, two 7-s segments.
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


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _gate(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A beeping pattern shared by the hard tones, noises and hums: steady, or on/off with a random
    period and duty cycle, with 10-ms ramps."""
    if rng.uniform() < 0.3:
        return np.ones(t.size)
    period, duty = rng.uniform(0.3, 1.5), rng.uniform(0.3, 0.8)
    on = ((t + rng.uniform(0, period)) % period < duty * period).astype(float)
    ramp = max(1, round(0.01 * t.size / max(t[-1], 1e-9)))
    return np.convolve(on, np.ones(ramp) / ramp, mode="same")


def _band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """White noise restricted to [lo, hi] Hz (FFT mask), unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    out = np.fft.irfft(spec, n)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0
    out = np.fft.irfft(spec, n)
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def hard_tone(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    t = _t(sr, dur)
    f = _log_uniform(rng, 700, 1400)
    return np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) * _gate(rng, t)


def hard_noise(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    """Noise 0.3–0.7 octave wide at the tones' frequencies, gated like them: in one 1/1-octave band
    with them, told apart by finer bands."""
    t = _t(sr, dur)
    fc, width = _log_uniform(rng, 700, 1400), rng.uniform(0.3, 0.7)
    band = _band_noise(rng, t.size, sr, fc * 2 ** (-width / 2), fc * 2 ** (width / 2))
    return band / np.sqrt(2) * _gate(rng, t)


def hard_chirp(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    t = _t(sr, dur)
    f0 = _log_uniform(rng, 400, 700)
    f1 = f0 * 2 ** rng.uniform(1.0, 2.0)
    period = rng.uniform(0.5, 3.0)
    phase_t = t % period
    k = (f1 - f0) / period
    return np.sin(2 * np.pi * (f0 * phase_t + 0.5 * k * phase_t**2))


def hard_clicks(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    """Short damped tone pips (not broadband clicks) at 4–30 per second."""
    out = np.zeros(round(sr * dur))
    f, tau = _log_uniform(rng, 1500, 4000), rng.uniform(0.001, 0.004)
    pip = np.sin(2 * np.pi * f * _t(sr, 5 * tau)) * np.exp(-_t(sr, 5 * tau) / tau)
    step = max(pip.size + 1, round(sr / rng.uniform(4, 30)))
    for start in range(int(rng.integers(0, step)), out.size - pip.size, step):
        out[start : start + pip.size] += rng.uniform(0.5, 1.5) * pip
    return 3 * out


def hard_hum(rng: np.random.Generator, sr: int, dur: float) -> np.ndarray:
    """A harmonic complex, fundamental 180–260 Hz: upper partials in the tones' range."""
    t = _t(sr, dur)
    f = _log_uniform(rng, 180, 260)
    partials = range(1, int(rng.integers(3, 7)))
    return sum(
        rng.uniform(0.3, 1.0) / h * np.sin(2 * np.pi * f * h * t + rng.uniform(0, 6.28)) for h in partials
    ) * _gate(rng, t)


HARD_CLASSES: dict[str, Synth] = {
    "tone": hard_tone,
    "chirp": hard_chirp,
    "noise burst": hard_noise,
    "click": hard_clicks,
    "harmonic_hum": hard_hum,
}


def hard_mix(rng: np.random.Generator, cls: str, sr: int, dur: float) -> np.ndarray:
    """The class's event at unit RMS under pink background noise (SNR 10–30 dB), with a quieter
    event of another class (−24 to −12 dB) in a third of the files; peak 0.5."""
    event = HARD_CLASSES[cls](rng, sr, dur)
    event = event / (np.sqrt(np.mean(event**2)) + 1e-12)
    snr_db = rng.uniform(10, 30)
    mix = event + 10 ** (-snr_db / 20) * _pink(rng, event.size)
    if rng.uniform() < 1 / 3:
        others = [c for c in HARD_CLASSES if c != cls]
        other = HARD_CLASSES[others[int(rng.integers(len(others)))]](rng, sr, dur)
        mix += 10 ** (rng.uniform(-24, -12) / 20) * other / (np.sqrt(np.mean(other**2)) + 1e-12)
    return 0.5 * mix / (np.max(np.abs(mix)) + 1e-12)


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


def write_demo_dataset(
    root: Path, files_per_class: int = 6, seed: int = 0, hard: bool = False
) -> list[DemoFile]:
    """Write the dataset under ``root/<class>/…`` and return the generator's truth; ``hard``: the
    noisy, overlapping variant (module docstring)."""
    truth: list[DemoFile] = []
    for cls, synth in CLASSES.items():
        for i in range(files_per_class):
            ext, fmt, subtype, sr, channels = FORMATS[i % len(FORMATS)]
            if hard:
                rng = np.random.default_rng(stable_seed(seed, "demo-hard", cls, i))
                dur = float(np.round(rng.uniform(8.5, 13.5), 1))
                mono = hard_mix(rng, cls, sr, dur)
            else:
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
