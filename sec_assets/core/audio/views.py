"""Segment keys, and the two *views* of a file's segments: what training sees and what evaluation
sees.

**Keys.** A segment is a window of a file: ``{class}:{sha256[:20]}:{round}:{index:05d}``
(:func:`segment_key`). The *training view* of a window is its augmented variant when the
segment's stable draw says so (``augment_probability``), else the clean cut; the *clean view*
of a file is its round-0 windows as recorded — what valid and test are scored on.

**Two layouts** (the ``segment_views`` setting):

- ``by_split`` (the default): a file has the view its split needs — train/es files their
  training view (augmented segments under the window's own key), valid/test files their clean
  round 0 — so a file's segments depend on its split.
- ``both``: every file has both views, whatever its split, so features are computed once and
  any split of the files (a cross-validation fold) can be read from them. A window whose
  training view is augmented is stored twice: the clean cut under the window's key (round 0
  only: later rounds are training-only) and the augmented variant under
  :func:`variant_key` (``…~aug``). The variant is drawn from the window's key exactly as in
  ``by_split``, so its audio is the same bytes.

:func:`view_masks` tells from the keys alone which rows belong to which view, and is right for
both layouts, so every reader uses it and no reader needs to know the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

SHA_PREFIX = 20  # hex digits of the source sha256 in a segment key
VARIANT_SUFFIX = "~aug"
#: how ``augmented_segments`` lays out a file's views (see the module docstring)
SegmentViews = Literal["by_split", "both"]


def segment_key(partition_key: str, source_sha256: str, round_: int, index: int) -> str:
    """Key of a segment: (class, source file hash, round, index) — stable across runs."""
    return f"{partition_key}:{source_sha256[:SHA_PREFIX]}:{round_}:{index:05d}"


def variant_key(key: str) -> str:
    """The key of a window's augmented variant stored beside its clean cut (layout ``both``)."""
    return key + VARIANT_SUFFIX


def is_variant(key: str) -> bool:
    return key.endswith(VARIANT_SUFFIX)


def window_key(key: str) -> str:
    """The window a segment key belongs to (a variant's clean cut's key)."""
    return key.removesuffix(VARIANT_SUFFIX)


def parse_segment_key(key: str) -> tuple[str, str, int, int]:
    """(partition key, sha256 prefix, round, index) of a key made by :func:`segment_key` (or its
    variant)."""
    partition_key, sha, round_, index = window_key(key).rsplit(":", 3)
    return partition_key, sha, int(round_), int(index)


def view_masks(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(training, clean) boolean masks over ``keys``: a row is in the training view when it is a
    variant or its window has none; in the clean view when it is no variant and of round 0."""
    variant = np.array([is_variant(k) for k in keys], dtype=bool)
    varied = {window_key(k) for k, v in zip(keys, variant, strict=True) if v}
    training = variant | np.array([k not in varied for k in keys], dtype=bool)
    clean = ~variant & np.array([parse_segment_key(k)[2] == 0 for k in keys], dtype=bool)
    return training, clean
