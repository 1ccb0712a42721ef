"""Inference windows of a recording, cut by the training segmenter itself.

A recording of any length is graded by the manifest's own rules (:func:`grade`: decodable, long
enough, the NaN and over-full-scale policies and their repairs), decoded (streamed), mixed to
mono, resampled with soxr to the target rate and cut into windows of ``window_seconds`` every
``hop_seconds`` by :func:`sec_assets.core.audio.segments.segment_source` with augmentation off —
the function that cut the clean valid and test segments. So the last partial window follows
training's rule: a remainder at least ``min_window_seconds`` long is repeat-padded to a full
window, a shorter one is dropped; a recording shorter than one window gives one repeat-padded
window when it holds at least ``min_clip_seconds``. Window audio is stored as the segments are
(float16 PCM): a recording that is also a training file gets exactly its training features.

Which window: by default the champions' own training segments (:func:`choose_window`, from each
champion's run params read by :func:`logged_window`), so a model scores features of the shape it
was trained on; ``window_seconds`` / ``window_hop_seconds`` set by hand win, with a warning when
they differ from a champion's training segments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from sec_assets.core.audio.manifest import FilePolicy, manifest_row, source_files
from sec_assets.core.audio.segments import (
    SegmentParams,
    SourceFile,
    encode_audio,
    file_windows,
    segment_source,
)
from sec_assets.core.store.schemas import TABLE_SCHEMAS
from sec_assets.core.tracking.geometry import PREFIX, logged_geometry

if TYPE_CHECKING:  # MLflow itself is imported on first use (see core.tracking.store)
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

KEY_PREFIX = "inbox"  # the "class" part of a window's segment key
WINDOW_COLUMNS = {
    "segment_key": pl.String,
    "source_sha256": pl.String,
    "window": pl.Int64,
    "start_s": pl.Float64,
    "end_s": pl.Float64,
    "padded": pl.Boolean,
    "sample_rate": pl.Int64,
    "audio": pl.Binary,
}


@dataclasses.dataclass(frozen=True)
class WindowParams:
    window_seconds: float = 5.0
    hop_seconds: float | None = None  # default: window_seconds
    min_window_seconds: float = 1.0

    def segment_params(self, training: SegmentParams) -> SegmentParams:
        """Training's segment parameters (rate, channel, clip rule) with these windows, no augmentation."""
        return dataclasses.replace(
            training,
            segment_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds or self.window_seconds,
            min_segment_seconds=min(self.min_window_seconds, self.window_seconds),
            target_segments=None,
            augment_probability=0.0,
            noise_mix=0.0,
        )

    @classmethod
    def of_segments(cls, params: SegmentParams) -> WindowParams:
        """The window of segments cut with ``params``: their length, hop and last-partial rule."""
        return cls(params.segment_seconds, params.hop_seconds, params.min_segment_seconds)

    def describe(self) -> str:
        """E.g. ``7.0 s every 7.0 s``."""
        return f"{self.window_seconds} s every {self.hop_seconds or self.window_seconds} s"


WindowSource = Literal["champion", "setting", "fallback"]
SOURCE_TEXT: dict[str, str] = {
    "champion": "the champion's training segments",
    "setting": "window_seconds / window_hop_seconds set by hand",
    "fallback": "the segment settings: the champions predate the record of their training segments",
}


@dataclasses.dataclass(frozen=True)
class WindowChoice:
    """The window to cut (``hop_seconds`` always set), where it came from, and what to warn about."""

    window: WindowParams
    source: WindowSource
    warning: str | None

    def describe(self) -> str:
        """E.g. ``7.0 s every 7.0 s (the champion's training segments)``."""
        return f"{self.window.describe()} ({SOURCE_TEXT[self.source]})"


def logged_window(client: MlflowClient, version: ModelVersion) -> WindowParams | None:
    """The window a registered model version was trained on: its run's ``segment.*`` params
    (:mod:`sec_assets.core.tracking.geometry`) as window length, hop and last-partial rule;
    None for a version trained before they were recorded."""
    geometry = logged_geometry(client, version)
    if geometry is None:
        return None
    return WindowParams(geometry.segment_seconds, geometry.hop_seconds, geometry.min_segment_seconds)


def choose_window(
    logged: Mapping[str, WindowParams | None],
    window_seconds: float | None,
    hop_seconds: float | None,
    min_window_seconds: float | None,
    fallback: WindowParams,
) -> WindowChoice:
    """The inference window for these champions and settings.

    ``logged``: champion label (e.g. ``sec-classifier-oct3 v2``) → its :func:`logged_window`, in
    octave order; ``window_seconds`` / ``hop_seconds`` / ``min_window_seconds``: the settings
    ``window_seconds``, ``window_hop_seconds``, ``min_window_seconds`` (None: not set);
    ``fallback``: the current segment settings' window (:meth:`WindowParams.of_segments`), for
    champions that predate the record.

    Nothing set: the first champion's training window (source ``champion``), or ``fallback`` when
    no champion logged one (source ``fallback``). ``window_seconds`` and/or ``hop_seconds`` set:
    those (source ``setting``); an unset hop is the hand-set window, else the champion's hop.
    ``min_window_seconds`` set always wins; unset, it follows the window's source. ``warning``
    (None when all is well), its sentences in this order: a hand-set window length that differs
    from a champion's training segment length (a hand-set hop alone changes only the overlap, not
    what a model sees: no warning), champions trained on segments of different lengths or hops,
    champions that predate the record.
    """
    known = {label: _resolved(w) for label, w in logged.items() if w is not None}
    old = [label for label, w in logged.items() if w is None]
    base = next(iter(known.values())) if known else _resolved(fallback)
    source: WindowSource = "champion" if known else "fallback"
    window = base
    if window_seconds is not None or hop_seconds is not None:
        length = window_seconds if window_seconds is not None else base.window_seconds
        hop = hop_seconds if hop_seconds is not None else (window_seconds or base.hop_seconds)
        window, source = WindowParams(length, hop, base.min_window_seconds), "setting"
    if min_window_seconds is not None:
        window = dataclasses.replace(window, min_window_seconds=min_window_seconds)
    warnings = []
    if source == "setting":
        differ = {label: w for label, w in known.items() if w.window_seconds != window.window_seconds}
        if differ:
            warnings.append(
                f"the window set by hand (window_seconds={window.window_seconds}, window_hop_seconds="
                f"{window.hop_seconds}) differs from the training segments of {_listed(differ)}: "
                "they score features of a length they never saw; unset window_seconds and "
                "window_hop_seconds to use the champion's own"
            )
    elif len({(w.window_seconds, w.hop_seconds) for w in known.values()}) > 1:
        first = next(iter(known))
        longer = [label for label, w in known.items() if w.window_seconds != window.window_seconds]
        warnings.append(
            f"the champions were trained on different segments: {_listed(known)}; every window "
            f"follows {first} (the first by octave)"
            + (f", so {', '.join(longer)} score features of a length they never saw" if longer else "")
            + "; retrain them with the same segment_seconds and hop_seconds, or set window_seconds "
            "by hand"
        )
    if old:
        predate = (
            f"{', '.join(old)} {'predates' if len(old) == 1 else 'predate'} the record of training "
            f"segments (no {PREFIX}* params on the run)"
        )
        if known:
            first = next(iter(known))
            warnings.append(f"{predate}: they score the windows of {first}'s training segments")
        elif source == "setting":
            warnings.append(f"{predate}: the window set by hand cannot be checked against them")
        else:
            warnings.append(
                f"{predate}: windows follow the current segment settings (segment_seconds="
                f"{base.window_seconds}, hop_seconds={base.hop_seconds}, min_segment_seconds="
                f"{base.min_window_seconds}), which may not be what they were trained on; retrain "
                "to record it, or set window_seconds by hand"
            )
    elif not known and source == "fallback":
        warnings.append(
            f"no champion to take the window from: windows follow the current segment settings "
            f"(segment_seconds={base.window_seconds}, hop_seconds={base.hop_seconds})"
        )
    return WindowChoice(window, source, " ".join(w + "." for w in warnings) or None)


def _resolved(window: WindowParams) -> WindowParams:
    return dataclasses.replace(window, hop_seconds=window.hop_seconds or window.window_seconds)


def _listed(windows: Mapping[str, WindowParams]) -> str:
    return ", ".join(f"{label} ({w.describe()})" for label, w in windows.items())


def grade(path: Path, inbox: Path, policy: FilePolicy) -> tuple[SourceFile | None, dict[str, Any]]:
    """The recording graded by the manifest's own rules: (its source, or None if unusable; the
    manifest row, with the reason in ``error``)."""
    row = manifest_row(path, inbox, KEY_PREFIX, KEY_PREFIX, policy)
    sources, _ = source_files(pl.DataFrame([row], schema=TABLE_SCHEMAS["raw_manifest"]))
    return (sources[0] if sources else None), row


def recording_windows(source: SourceFile, params: SegmentParams, batch: int = 16) -> Iterator[pl.DataFrame]:
    """Batches of window rows (:data:`WINDOW_COLUMNS`) in time order, streamed: memory is one
    batch of windows, not the recording."""
    plan = file_windows(source.target_frames(params), params, KEY_PREFIX, source.sha256, 0)
    rows: list[dict[str, object]] = []
    for seg in segment_source(source, plan, KEY_PREFIX, params, augment=False):
        rows.append(
            {
                "segment_key": seg.key,
                "source_sha256": source.sha256,
                "window": seg.index,
                "start_s": seg.start_s,
                "end_s": seg.start_s + seg.duration_s,
                "padded": seg.padded,
                "sample_rate": params.sample_rate,
                "audio": encode_audio(seg.audio),
            }
        )
        if len(rows) == batch:
            yield pl.DataFrame(rows, schema=WINDOW_COLUMNS)
            rows = []
    if rows:
        yield pl.DataFrame(rows, schema=WINDOW_COLUMNS)
