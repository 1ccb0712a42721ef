"""A posted clip, taken in: kept under its request id, graded by the manifest's own rules, cut into
windows by the training segmenter.

The bytes are written (temp file + rename) into the service's spool of recent requests, so a
correction can name the request later and the clip goes into training as posted, byte for byte.
The clip is then graded exactly as a landing or inbox file is (:func:`~sec_assets.core.inference.
windows.grade`: decodable, long enough, the non-finite and over-full-scale policies): a clip the
manifest would refuse is refused with the manifest's own reason. Size and length limits protect
the service; each refusal is a :class:`ClipRefused` carrying its HTTP status.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams, SourceFile
from sec_assets.core.inference.windows import grade, recording_windows
from sec_assets.core.store.storage import atomic_write_bytes

# what a posted clip may be called when its name does not say (the manifest reads these)
CONTENT_TYPES = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
}
SUFFIXES = tuple(sorted(set(CONTENT_TYPES.values())))


class ClipRefused(ValueError):
    """A clip the service will not label; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ClipLimits:
    max_bytes: int
    max_seconds: float


@dataclass(frozen=True)
class Clip:
    request_id: str
    path: Path  # the kept bytes, as posted
    source: SourceFile
    duration_s: float
    sample_rate: int
    channels: int


def suffix_for(filename: str | None, content_type: str | None) -> str:
    """The file suffix a posted clip is kept under: its name's, else its content type's; ``.bin``
    when neither says (refused by :func:`take_clip` with what to send)."""
    if filename and Path(filename).suffix:
        suffix = Path(filename).suffix.lower()
        return suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".bin"
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in CONTENT_TYPES:
        return CONTENT_TYPES[kind]
    return ".bin"


def take_clip(
    data: bytes, suffix: str, request_id: str, spool: Path, policy: FilePolicy, limits: ClipLimits
) -> Clip:
    """Keep the posted bytes as ``<spool>/<request_id><suffix>`` and grade them; a refused clip is
    removed again and raises :class:`ClipRefused` (413 too large or too long, 400 empty, 422 not
    usable audio, with the manifest's reason)."""
    if not data:
        raise ClipRefused(400, "empty body: post the clip's bytes (a file upload named 'file', or the body)")
    if len(data) > limits.max_bytes:
        raise ClipRefused(
            413, f"clip of {len(data)} bytes is larger than {limits.max_bytes} (setting serve_max_upload_mb)"
        )
    if suffix == ".bin":
        raise ClipRefused(
            415,
            "unknown clip type: upload a file with its name, or send the body with Content-Type "
            f"{', '.join(sorted(CONTENT_TYPES))} or ?filename=<name>{SUFFIXES[0]}",
        )
    path = spool / f"{request_id}{suffix}"
    atomic_write_bytes(path, data)
    try:
        source, row = grade(path, spool, policy)
        if source is None:  # the manifest's reason, without the spool's name for the clip
            raise ClipRefused(422, f"not a usable clip: {str(row['error']).replace(path.name, 'the clip')}")
        if row["duration_s"] > limits.max_seconds:
            raise ClipRefused(
                413,
                f"clip of {row['duration_s']:.1f} s is longer than {limits.max_seconds:g} s "
                "(setting serve_max_clip_seconds)",
            )
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return Clip(
        request_id, path, source, float(row["duration_s"]), int(row["sample_rate"]), int(row["channels"])
    )


def clip_windows(clip: Clip, params: SegmentParams) -> pl.DataFrame:
    """Every window of the clip (:data:`~sec_assets.core.inference.windows.WINDOW_COLUMNS`), cut
    as the inbox cuts a recording; empty when the clip is shorter than one window allows."""
    frames = list(recording_windows(clip.source, params, batch=1 << 30))
    if not frames:
        raise ClipRefused(
            422,
            f"no window: the clip's {clip.duration_s:.2f} s are shorter than the shortest window "
            f"({params.min_segment_seconds:g} s) the champion's windows allow",
        )
    return pl.concat(frames)
