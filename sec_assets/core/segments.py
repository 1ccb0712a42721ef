"""Segmentation and augmentation, deterministic to the byte.

Each source file is decoded to mono at the target rate and cut into windows of
``segment_seconds`` with a hop of ``hop_seconds``. A last partial window at least
``min_segment_seconds`` long is *repeat-padded* (tiled with itself, as CLAP's own preprocessing
does) rather than zero-padded, which left the predecessor's last segments mostly silent; shorter
remainders are dropped. A file shorter than one segment but at least the minimum gives one
repeat-padded segment.

Augmentation mixes white noise at ``noise_mix`` of the segment's RMS. Its generator is seeded by
``stable_seed(seed, segment_key)`` only, so a segment is identical whatever the batch, worker
count, process, host or ``PYTHONHASHSEED``; the drawn parameters are stored with the segment.

Audio is stored as little-endian float16 PCM bytes: half the size of float32, no clipping after
mixing, and the same relative precision for quiet and loud recordings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sec_assets.core.audio_io import load_mono
from sec_assets.core.hashing import stable_seed

AUDIO_DTYPE = np.dtype("<f2")


@dataclass(frozen=True)
class SegmentParams:
    sample_rate: int = 44100
    segment_seconds: float = 7.0
    hop_seconds: float = 7.0
    min_segment_seconds: float = 1.0
    noise_mix: float = 0.3
    seed: int = 0

    @property
    def segment_frames(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    @property
    def hop_frames(self) -> int:
        return max(1, round(self.hop_seconds * self.sample_rate))

    @property
    def min_frames(self) -> int:
        return max(1, round(self.min_segment_seconds * self.sample_rate))


@dataclass(frozen=True)
class Segment:
    key: str
    round: int
    index: int
    start_s: float
    duration_s: float
    padded: bool
    seed: int
    noise_gain: float
    noise_rms: float
    audio: np.ndarray  # float32, exactly segment_frames long


def segment_key(partition_key: str, source_sha256: str, round_: int, index: int) -> str:
    """Key of a segment: (class, source file hash, round, index) — stable across runs."""
    return f"{partition_key}:{source_sha256[:20]}:{round_}:{index:05d}"


def repeat_pad(audio: np.ndarray, frames: int) -> np.ndarray:
    """Tile ``audio`` to exactly ``frames`` samples."""
    if audio.size == 0:
        raise ValueError("cannot pad an empty signal")
    reps = -(-frames // audio.size)
    return np.tile(audio, reps)[:frames]


def windows(n_frames: int, params: SegmentParams) -> list[tuple[int, int]]:
    """(start, length) of every window of a signal of ``n_frames`` samples (round 0)."""
    out = []
    seg, hop = params.segment_frames, params.hop_frames
    start = 0
    while start < n_frames:
        length = min(seg, n_frames - start)
        if length == seg or length >= params.min_frames:
            out.append((start, length))
        if start + seg >= n_frames:
            break
        start += hop
    return out


def augment(audio: np.ndarray, key: str, params: SegmentParams) -> tuple[np.ndarray, int, float, float]:
    """Mix seeded white noise into a segment; returns (audio, seed, noise gain, noise rms)."""
    seed = stable_seed(params.seed, "augment", key)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(audio.size)
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    gain = params.noise_mix * rms
    mixed = (1.0 - params.noise_mix) * audio.astype(np.float64) + gain * noise
    noise_rms = gain * float(np.sqrt(np.mean(np.square(noise))))
    return mixed.astype(np.float32), seed, gain, noise_rms


def segment_file(
    path: Path, partition_key: str, source_sha256: str, params: SegmentParams
) -> Iterator[Segment]:
    """All augmented segments of one source file, in order."""
    audio = load_mono(path, params.sample_rate)
    for index, (start, length) in enumerate(windows(audio.size, params)):
        piece = audio[start : start + length]
        padded = length < params.segment_frames
        if padded:
            piece = repeat_pad(piece, params.segment_frames)
        key = segment_key(partition_key, source_sha256, 0, index)
        mixed, seed, gain, noise_rms = augment(piece, key, params)
        yield Segment(
            key=key,
            round=0,
            index=index,
            start_s=start / params.sample_rate,
            duration_s=length / params.sample_rate,
            padded=padded,
            seed=seed,
            noise_gain=gain,
            noise_rms=noise_rms,
            audio=mixed,
        )


def encode_audio(audio: np.ndarray) -> bytes:
    return np.asarray(audio, dtype=AUDIO_DTYPE).tobytes()


def decode_audio(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=AUDIO_DTYPE).astype(np.float32)
