"""Audio decoding: soundfile (libsndfile) for wav/flac/mp3/ogg, soxr for resampling.

The source rate is always read from the file (the predecessor trusted a config value and was off
by 1.8 %). Multi-channel audio is mixed to mono by the mean (or one channel is taken, by index),
and everything is float32. :func:`probe` also scans the samples (non-finite values, peak) so the
manifest can grade a file (:mod:`sec_assets.core.audio.samples`), and explains undecodable files in
plain words (:mod:`sec_assets.core.audio.diagnose`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sec_assets.core.audio.diagnose import undecodable_reason
from sec_assets.core.audio.samples import SampleScan

AUDIO_EXTENSIONS = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".oga": "ogg"}
PROBE_BLOCK = 1 << 14  # frames per decoded block: also how precisely a truncation is located


class AudioDecodeError(RuntimeError):
    """A file that cannot be used as audio; the message says why in plain words."""


@dataclass(frozen=True)
class AudioInfo:
    format: str
    sample_rate: int
    channels: int
    frames: int  # frames that decode (what is used)
    header_frames: int = 0  # what the header declares
    scan: SampleScan = field(default_factory=SampleScan, compare=False)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_format(path: Path) -> str | None:
    """The format name for a supported extension, else None (the file is not audio)."""
    return AUDIO_EXTENSIONS.get(path.suffix.lower())


def probe(path: Path) -> AudioInfo:
    """Read the header, count the frames that actually decode and scan the samples.

    Headers lie (truncated uploads, interrupted copies), so the frames are counted by decoding in
    blocks; a file with no decodable frames is an error, and so is one whose decoding breaks off
    (it would break off again when segmented).
    """
    fmt = audio_format(path)
    if fmt is None:
        raise AudioDecodeError(f"not an audio file (extension {path.suffix or 'none'!r})")
    if path.stat().st_size == 0:
        raise AudioDecodeError("empty file (0 bytes)")
    try:
        fh = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioDecodeError(undecodable_reason(path, fmt, exc)) from exc
    scan = SampleScan()
    with fh:
        rate, channels, header_frames = int(fh.samplerate), int(fh.channels), int(fh.frames)
        if rate <= 0 or channels <= 0:
            raise AudioDecodeError(f"invalid header: sample rate {rate}, channels {channels}")
        try:
            for block in fh.blocks(blocksize=PROBE_BLOCK, dtype="float32", always_2d=True):
                scan.update(block)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioDecodeError(
                f"truncated: decoding stopped after {scan.frames} of {header_frames} frames "
                f"(libsndfile: {exc})"
            ) from exc
    if scan.frames == 0:
        declared = f" (the header declares {header_frames})" if header_frames else ""
        raise AudioDecodeError(f"no audio frames: header only{declared}")
    return AudioInfo(fmt, rate, channels, scan.frames, header_frames, scan)


Channel = str | int  # "mean" or a 0-based channel index


def to_mono(block: np.ndarray, channel: Channel = "mean") -> np.ndarray:
    """(frames, channels) → (frames,): the channel mean, or one channel by index."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    if channel == "mean":
        return block.mean(axis=1, dtype=np.float64).astype(np.float32)
    if not isinstance(channel, int) or channel < 0:
        raise ValueError(f"channel must be 'mean' or a channel index ≥ 0, got {channel!r}")
    if channel >= block.shape[1]:
        raise AudioDecodeError(f"channel {channel} requested but the file has {block.shape[1]} channel(s)")
    return np.ascontiguousarray(block[:, channel], dtype=np.float32)


def resampled_length(frames: int, source_rate: int, target_rate: int) -> int:
    """Samples after resampling ``frames`` from ``source_rate``: soxr's own count, rounded half up.

    Segment windows are planned from this number before decoding, so :func:`stream_mono` trims
    or zero-extends its output to exactly this length (soxr already agrees; the check guards it).
    """
    return (frames * target_rate * 2 + source_rate) // (2 * source_rate)


def stream_mono(
    path: Path,
    target_rate: int,
    block_seconds: float = 30.0,
    channel: Channel = "mean",
    frames: int | None = None,
    repair: Callable[[np.ndarray], np.ndarray] | None = None,
    start: int | None = None,
) -> Iterator[np.ndarray]:
    """Decode, mix to mono and resample in blocks, so a 30-minute file never sits in memory.

    soxr's streaming resampler keeps state across blocks, so the output equals a one-shot
    resample of the whole file up to float rounding. With ``frames`` (the decodable source frames
    from :func:`probe`), exactly ``resampled_length(frames, …)`` samples come out. ``repair``
    (:meth:`sec_assets.core.audio.samples.Repair.apply`) is applied to each raw (frames, channels)
    block before mixing and resampling, so a NaN never spreads through the resampler. ``start``:
    a clip inside a longer file — decode exactly ``frames`` source frames from this one, nothing after.
    """
    expected = None
    try:
        with sf.SoundFile(path) as fh:
            rate = int(fh.samplerate)
            if frames is not None:
                expected = resampled_length(frames, rate, target_rate)
            resampler = None
            if rate != target_rate:
                resampler = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
            blocksize = max(1, int(block_seconds * rate))
            pending = None
            produced = 0

            def emit(mono: np.ndarray, last: bool) -> np.ndarray:
                nonlocal produced
                out = _resample(resampler, mono, last)
                out = out if expected is None else out[: max(0, expected - produced)]
                produced += out.size
                return out

            if start is not None:
                fh.seek(start)
            for block in fh.blocks(
                blocksize=blocksize,
                dtype="float32",
                always_2d=True,
                frames=-1 if frames is None or start is None else frames,
            ):
                if pending is not None:
                    yield emit(pending, last=False)
                pending = to_mono(repair(block) if repair else block, channel)
            if pending is not None:
                yield emit(pending, last=True)
            if expected is not None and produced < expected:
                yield np.zeros(expected - produced, dtype=np.float32)
    except sf.LibsndfileError as exc:
        raise AudioDecodeError(f"cannot decode {path.name}: {exc}") from exc


def _resample(resampler: soxr.ResampleStream | None, mono: np.ndarray, last: bool) -> np.ndarray:
    if resampler is None:
        return mono
    return np.asarray(resampler.resample_chunk(mono, last=last), dtype=np.float32)


def load_mono(path: Path, target_rate: int, channel: Channel = "mean") -> np.ndarray:
    """A whole file as mono float32 at ``target_rate`` (for short files and notebooks)."""
    blocks = list(stream_mono(path, target_rate, channel=channel))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
