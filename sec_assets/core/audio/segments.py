"""Segmentation and augmentation, deterministic to the byte.

**Windows.** Each source file is decoded (streamed) to mono at the target rate and cut into windows
of ``segment_seconds`` with a hop of ``hop_seconds``. A last partial window at least
``min_segment_seconds`` long is *repeat-padded* (tiled with itself, as CLAP's own preprocessing
does) rather than zero-padded, which left the predecessor's last segments mostly silent; shorter
remainders are dropped. A file shorter than one segment gives one repeat-padded segment when it
holds at least ``min_clip_seconds`` of real audio (0.1 s by default, so clicks, calls and spoken
words work out of the box); shorter files are failed in the manifest with the reason.

**Rounds.** Round 0 starts at 0. When a class needs more segments than one pass gives
(``target_segments`` per class), rounds 1, 2, … start each file at an offset in ``[1, hop)`` drawn
from ``stable_unit(seed, "offset", class, source, round)``; the last round needed is trimmed to
exactly the target by the stable hash of each candidate key. Window plans are computed from the
manifest's frame counts alone, before any decoding, so they are the same on every machine.

**Augmentation** is for training only: the caller says per file whether its segments are
augmented (``augment``); valid and test segments are the recording as it is — resampled, windowed,
repeat-padded — so evaluation measures the model on the audio it will meet. A training segment
is augmented with probability ``augment_probability`` (a stable draw from its key), so the model
also sees recordings as they are: trained on noisy copies alone, a model meets clean test audio
as a different domain (measured: 1.0 → 0.12 accuracy on clean spoken digits). Per augmented
segment: a circular time shift (±``time_shift_seconds``), a gain (uniform in ``gain_db_range``),
then white noise mixed at ``noise_mix`` of the segment's RMS
(``(1 - mix)·x + mix·rms·n``, the predecessor's 30 %). The generator is seeded by
``stable_seed(seed, "augment", segment_key)`` only, so a segment is identical whatever the batch,
worker count, process, host or ``PYTHONHASHSEED``; the drawn values are stored with the segment,
and :func:`regenerate_segment` rebuilds any segment from its key and source file alone.

**Repairs.** A file's sample repair (NaN/inf → 0, scaled or clipped to full scale; decided in the
manifest, see :mod:`sec_assets.core.audio.samples`) is applied to its raw samples before mixing
and resampling, and its note is stored on every segment of the file.

**Storage.** Audio is stored as little-endian float16 PCM bytes: half the size of float32, no
clipping after mixing, and the same relative precision for quiet and loud recordings.
:func:`encode_audio` refuses non-finite samples and anything float16 cannot hold (|x| > 65504),
so the store never holds NaN or ±inf.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from sec_assets.core.audio.audio_io import Channel, probe, resampled_length, stream_mono
from sec_assets.core.audio.samples import Repair, SamplePolicy
from sec_assets.core.audio.views import SHA_PREFIX, parse_segment_key, segment_key, variant_key
from sec_assets.core.hashing import stable_seed, stable_unit

AUDIO_DTYPE = np.dtype("<f2")
AUDIO_MAX = float(np.finfo(AUDIO_DTYPE).max)  # 65504: beyond it float16 is ±inf
# How augmented_segments stores a segment's audio: its samples, or the recipe that regenerates
# them from the source file (:mod:`sec_assets.core.audio.stored`).
SegmentStorage = Literal["pcm", "recipe"]


@dataclass(frozen=True)
class SegmentParams:
    sample_rate: int = 44100
    segment_seconds: float = 7.0
    hop_seconds: float = 7.0
    min_segment_seconds: float = 1.0
    min_clip_seconds: float = 0.1
    noise_mix: float = 0.3
    augment_probability: float = 0.5  # per training segment; valid/test are never augmented
    gain_db_range: tuple[float, float] = (0.0, 0.0)
    time_shift_seconds: float = 0.0
    seed: int = 0
    channel: Channel = "mean"
    target_segments: int | None = None  # per class; None: one pass (round 0) only
    max_rounds: int = 16

    @property
    def segment_frames(self) -> int:
        return round(self.segment_seconds * self.sample_rate)

    @property
    def hop_frames(self) -> int:
        return max(1, round(self.hop_seconds * self.sample_rate))

    @property
    def min_frames(self) -> int:
        return max(1, round(self.min_segment_seconds * self.sample_rate))

    @property
    def min_clip_frames(self) -> int:
        """Samples a file shorter than one segment needs: the manifest's duration check
        (:func:`long_enough`) at the source rate implies this count after resampling."""
        return max(1, math.floor(self.min_clip_seconds * self.sample_rate - 1e-6))


def long_enough(frames: int, sample_rate: int, min_clip_seconds: float) -> bool:
    """Does a file of ``frames`` at ``sample_rate`` hold at least ``min_clip_seconds`` of audio?"""
    return frames >= min_clip_seconds * sample_rate - 1e-6


@dataclass(frozen=True)
class Window:
    round: int
    index: int
    start: int  # first sample at the target rate
    length: int  # samples taken from the file (≤ segment_frames; shorter ones are repeat-padded)


@dataclass(frozen=True)
class Segment:
    key: str
    round: int
    index: int
    start_s: float
    duration_s: float
    padded: bool
    seed: int
    gain_db: float
    shift_frames: int
    noise_gain: float
    noise_rms: float
    audio: np.ndarray  # float32, exactly segment_frames long
    repair: str | None = None  # the source file's sample repair, if any
    augmented: bool = True


def repeat_pad(audio: np.ndarray, frames: int) -> np.ndarray:
    """Tile ``audio`` to exactly ``frames`` samples."""
    if audio.size == 0:
        raise ValueError("cannot pad an empty signal")
    reps = -(-frames // audio.size)
    return np.tile(audio, reps)[:frames]


def windows(n_frames: int, params: SegmentParams, offset: int = 0) -> list[tuple[int, int]]:
    """(start, length) of every window of a signal of ``n_frames`` samples, from ``offset``.

    A signal shorter than one segment gives one window (repeat-padded later) at offset 0 when it
    holds at least ``min_clip_frames``; otherwise a partial last window needs ``min_frames``.
    """
    out = []
    seg, hop = params.segment_frames, params.hop_frames
    if offset == 0 and n_frames < seg:
        return [(0, n_frames)] if n_frames >= params.min_clip_frames else []
    start = offset
    while start < n_frames:
        length = min(seg, n_frames - start)
        if length == seg or length >= params.min_frames:
            out.append((start, length))
        if start + seg >= n_frames:
            break
        start += hop
    return out


def round_offset(params: SegmentParams, partition_key: str, source_sha256: str, round_: int) -> int:
    """Start of round ``round_`` in a file: 0 for round 0, else a stable draw in [1, hop)."""
    if round_ == 0 or params.hop_frames <= 1:
        return 0
    u = stable_unit(params.seed, "offset", partition_key, source_sha256[:SHA_PREFIX], round_)
    return 1 + int(u * (params.hop_frames - 1))


def file_windows(
    n_frames: int, params: SegmentParams, partition_key: str, source_sha256: str, round_: int
) -> list[Window]:
    offset = round_offset(params, partition_key, source_sha256, round_)
    return [
        Window(round_, i, start, length)
        for i, (start, length) in enumerate(windows(n_frames, params, offset))
    ]


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    sample_rate: int
    frames: int  # decodable frames at the source rate (from the manifest); a clip's own
    repair: Repair = field(default_factory=Repair)  # decided by the manifest
    offset: int | None = None  # a clip inside a longer file starts at this frame (source rate)

    def target_frames(self, params: SegmentParams) -> int:
        return resampled_length(self.frames, self.sample_rate, params.sample_rate)


def plan_class(
    sources: Sequence[SourceFile], params: SegmentParams, partition_key: str
) -> dict[str, list[Window]]:
    """Windows per source sha256 for a whole class, rounds included; pure arithmetic, no decoding.

    Round 0 is always taken whole. Extra rounds are added while the class is short of
    ``target_segments`` (at most ``max_rounds`` in all, and never when round 0 is empty, so a class
    without usable audio cannot loop); the last one is trimmed to the target by stable key hash.
    """
    plan = {
        s.sha256: file_windows(s.target_frames(params), params, partition_key, s.sha256, 0) for s in sources
    }
    count = sum(len(w) for w in plan.values())
    target = params.target_segments
    if not target or count == 0 or count >= target:
        return plan
    for round_ in range(1, params.max_rounds):
        candidates = [
            (s.sha256, w)
            for s in sources
            for w in file_windows(s.target_frames(params), params, partition_key, s.sha256, round_)
        ]
        need = target - count
        if len(candidates) > need:
            candidates.sort(
                key=lambda c: stable_unit(
                    params.seed, "pick", segment_key(partition_key, c[0], c[1].round, c[1].index)
                )
            )
            candidates = candidates[:need]
        for sha, w in candidates:
            plan[sha].append(w)
        count += len(candidates)
        if count >= target:
            break
    for sha in plan:
        plan[sha].sort(key=lambda w: (w.start, w.round))
    return plan


def cut_windows(blocks: Iterable[np.ndarray], plan: Sequence[Window]) -> Iterator[tuple[Window, np.ndarray]]:
    """The audio of each planned window from a stream of blocks, holding at most one window plus
    one block in memory (a 30-minute file streams)."""
    pending = sorted(plan, key=lambda w: (w.start, w.round))
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # absolute sample index of buffer[0]
    i = 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while i < len(pending) and pending[i].start + pending[i].length <= buffer_start + buffer.size:
            w = pending[i]
            yield w, buffer[w.start - buffer_start : w.start - buffer_start + w.length].copy()
            i += 1
        keep_from = pending[i].start if i < len(pending) else buffer_start + buffer.size
        # never drop past what was read: a next window beyond this block (a plan with gaps — one
        # window regenerated, hop > segment) would otherwise be cut from the wrong samples
        drop = min(max(0, keep_from - buffer_start), buffer.size)
        buffer, buffer_start = buffer[drop:], buffer_start + drop
    if i < len(pending):
        raise ValueError(f"the stream ended before window {pending[i]} (plan and audio disagree)")


@dataclass(frozen=True)
class Augmentation:
    seed: int
    gain_db: float
    shift_frames: int
    noise_gain: float
    noise_rms: float


def augment(audio: np.ndarray, key: str, params: SegmentParams) -> tuple[np.ndarray, Augmentation]:
    """Shift, gain and seeded noise for one segment; the generator depends on the key alone."""
    seed = stable_seed(params.seed, "augment", key)
    rng = np.random.default_rng(seed)
    u_gain, u_shift = rng.random(2)  # always drawn, so the noise stream never depends on settings
    noise = rng.standard_normal(audio.size)
    lo, hi = params.gain_db_range
    gain_db = float(lo + (hi - lo) * u_gain)
    max_shift = round(params.time_shift_seconds * params.sample_rate)
    shift = round(float(2 * u_shift - 1) * max_shift)
    x = np.roll(audio.astype(np.float64), shift) * 10 ** (gain_db / 20)
    rms = float(np.sqrt(np.mean(np.square(x))))
    noise_gain = params.noise_mix * rms
    mixed = (1.0 - params.noise_mix) * x + noise_gain * noise
    noise_rms = noise_gain * float(np.sqrt(np.mean(np.square(noise))))
    return mixed.astype(np.float32), Augmentation(seed, gain_db, shift, noise_gain, noise_rms)


NO_AUGMENTATION = Augmentation(seed=0, gain_db=0.0, shift_frames=0, noise_gain=0.0, noise_rms=0.0)


def _make_segment(
    window: Window, piece: np.ndarray, key: str, params: SegmentParams, repair: str | None, augmented: bool
) -> Segment:
    padded = window.length < params.segment_frames
    if padded:
        piece = repeat_pad(piece, params.segment_frames)
    augmented = augmented and stable_unit(params.seed, "augment?", key) < params.augment_probability
    if augmented:
        mixed, aug = augment(piece, key, params)
    else:
        mixed, aug = piece.astype(np.float32, copy=False), NO_AUGMENTATION
    return Segment(
        key=key,
        round=window.round,
        index=window.index,
        start_s=window.start / params.sample_rate,
        duration_s=window.length / params.sample_rate,
        padded=padded,
        seed=aug.seed,
        gain_db=aug.gain_db,
        shift_frames=aug.shift_frames,
        noise_gain=aug.noise_gain,
        noise_rms=aug.noise_rms,
        audio=mixed,
        repair=repair,
        augmented=augmented,
    )


def segment_source(
    source: SourceFile,
    plan: Sequence[Window],
    partition_key: str,
    params: SegmentParams,
    augment: bool = True,
    both: bool = False,
) -> Iterator[Segment]:
    """The segments of one file for its planned windows, streamed; augmented unless ``augment``
    is false (valid and test files). ``both`` (layout ``both`` of
    :mod:`~sec_assets.core.audio.views`): an augmented window gives its variant under
    :func:`~sec_assets.core.audio.views.variant_key`, preceded, in round 0, by its clean cut."""
    if not plan:
        return
    repair = source.repair.apply if source.repair.active else None
    blocks = stream_mono(
        source.path,
        params.sample_rate,
        channel=params.channel,
        frames=source.frames,
        repair=repair,
        start=source.offset,
    )
    for window, piece in cut_windows(blocks, plan):
        key = segment_key(partition_key, source.sha256, window.round, window.index)
        segment = _make_segment(window, piece, key, params, source.repair.note, augment)
        if both and segment.augmented:
            if window.round == 0:
                yield _make_segment(window, piece, key, params, source.repair.note, False)
            segment = dataclasses.replace(segment, key=variant_key(key))
        yield segment


def segment_file(
    path: Path,
    partition_key: str,
    source_sha256: str,
    params: SegmentParams,
    frames: int | None = None,
    sample_rate: int | None = None,
    policy: SamplePolicy | None = None,
    augment: bool = True,
) -> Iterator[Segment]:
    """Round-0 segments of one file (for notebooks, tests and inference; the asset plans a whole
    class); ``augment=False``: the recording as it is, as for valid and test files.

    Without ``frames``/``sample_rate`` the file is probed and graded by ``policy`` (default
    :class:`SamplePolicy`), which may raise :class:`SampleRejected` or decide a repair.
    """
    repair = Repair()
    if frames is None or sample_rate is None:
        info = probe(path)
        frames, sample_rate = info.frames, info.sample_rate
        repair = (policy or SamplePolicy()).decide(info.scan, sample_rate)
    source = SourceFile(path, source_sha256, sample_rate, frames, repair)
    plan = file_windows(source.target_frames(params), params, partition_key, source_sha256, 0)
    yield from segment_source(source, plan, partition_key, params, augment)


def regenerate_segment(key: str, source: SourceFile, params: SegmentParams, augment: bool = True) -> Segment:
    """Rebuild one segment from its key and its source file alone (same bytes as stored);
    ``augment`` as stored in the segment's row (false for valid and test files)."""
    partition_key, sha, round_, index = parse_segment_key(key)
    if not source.sha256.startswith(sha):
        raise ValueError(f"segment {key} comes from a file with sha256 {sha}…, not {source.sha256[:20]}…")
    plan = file_windows(source.target_frames(params), params, partition_key, source.sha256, round_)
    match = [w for w in plan if w.index == index]
    if not match:
        raise ValueError(f"segment {key} does not exist for this file and these parameters")
    return dataclasses.replace(next(segment_source(source, match, partition_key, params, augment)), key=key)


def encode_audio(audio: np.ndarray) -> bytes:
    """float16 PCM bytes; non-finite or out-of-range samples are an error, never stored."""
    x = np.asarray(audio)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{int(np.sum(~np.isfinite(x)))} non-finite samples reached the segment encoder")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > AUDIO_MAX:
        raise ValueError(f"peak {peak:.6g} exceeds what float16 storage holds ({AUDIO_MAX:g})")
    return x.astype(AUDIO_DTYPE).tobytes()


def decode_audio(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=AUDIO_DTYPE).astype(np.float32)
