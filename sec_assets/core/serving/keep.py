"""What the service keeps of its requests: the recent clips a correction can name, the review
sample, and corrections written into the landing folder as training data.

- **Recent** (``<home>/service/recent/``): every accepted clip as posted, ``<request_id><suffix>``,
  with its answer ``<request_id>.json``; the oldest beyond ``keep`` are dropped.
- **Review** (``<home>/service/review/<day>/``): a stable share of all requests
  (:func:`in_review_sample`: a hash of the request id, so the choice does not depend on timing or
  worker count), clip and answer, for labelling.
- **Corrections**: the clip of a request with the right label goes to
  ``<landing>/<class folder>/feedback-<request_id><suffix>``, its provenance beside it in the hidden
  ``.provenance/`` folder of the class (hidden files are ignored by the manifest and the sensors), so
  the landing sensor requests the class's run and retraining takes it in. "None of these", a label
  that is no class (unless new classes are allowed) and a table-defined dataset (no class folders)
  keep the correction under ``<home>/service/corrections/`` instead, and say so.
Every file is written by temp file + rename: a reader sees it whole or not at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sec_assets.core.audio.keys import is_hidden, partition_key_for
from sec_assets.core.hashing import stable_unit
from sec_assets.core.store.storage import atomic_write_bytes

PROVENANCE_DIR = ".provenance"
FEEDBACK_PREFIX = "feedback-"


def in_review_sample(request_id: str, fraction: float) -> bool:
    return fraction > 0 and stable_unit("review", request_id) < fraction


def _json(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, indent=1, sort_keys=True, default=str).encode()


class Recent:
    """The spool of recent requests: clip + answer per request id, the newest ``keep`` kept."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder = folder
        self.keep = keep
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        answers = sorted(folder.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        self._order: deque[str] = deque(p.stem for p in answers)

    def clip(self, request_id: str) -> Path | None:
        if not request_id.isalnum():
            return None
        found = [p for p in self.folder.glob(f"{request_id}.*") if p.suffix != ".json"]
        return found[0] if found else None

    def answer(self, request_id: str) -> dict[str, Any] | None:
        if not request_id.isalnum():
            return None
        try:
            return dict(json.loads((self.folder / f"{request_id}.json").read_text()))
        except (OSError, ValueError):
            return None

    def remember(self, request_id: str, answer: Mapping[str, Any]) -> None:
        """Keep the answer of a request whose clip is in the spool; drop the oldest beyond ``keep``."""
        atomic_write_bytes(self.folder / f"{request_id}.json", _json(answer))
        with self._lock:
            self._order.append(request_id)
            old = [self._order.popleft() for _ in range(max(0, len(self._order) - self.keep))]
        for rid in old:
            for path in self.folder.glob(f"{rid}.*"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def forget(self, clip: Path) -> None:
        """A clip that got no answer (refused, or the pass failed)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(clip)


def keep_for_review(review: Path, day: str, clip: Path, answer: Mapping[str, Any]) -> Path:
    folder = review / day
    target = folder / clip.name
    atomic_write_bytes(target, clip.read_bytes())
    atomic_write_bytes(folder / f"{clip.stem}.json", _json(answer))
    return target


def _folder_name(label: str) -> str:
    """``label`` as a new class folder's name; ValueError for one no folder can have."""
    if "/" in label or "\\" in label or label.strip() in ("", ".", "..") or is_hidden(label):
        raise ValueError(f"{label!r} cannot name a class folder (no '/', no leading '.')")
    partition_key_for(label)  # raises for an empty name
    return label


@dataclass(frozen=True)
class Correction:
    request_id: str
    label: str | None  # the right class (name or key); None: "none of these"
    octave: int | None = None
    window_index: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Kept:
    """Where a correction went: into training (the landing folder) or set aside, and why."""

    path: Path
    provenance: Path
    into_training: bool
    class_name: str | None
    reason: str


def write_correction(
    correction: Correction,
    clip: Path,
    answer: Mapping[str, Any],
    landing: Path | None,
    classes: Mapping[str, str],
    set_aside: Path,
    new_classes: bool,
    received_at: str,
) -> Kept:
    """File a correction: into ``landing`` under its class folder when it names a class (or may
    create one), else under ``set_aside``. ``classes``: class key → folder name; ``landing`` None
    when the dataset is a table (no class folders to write into)."""
    by_name = {name: name for name in classes.values()} | dict(classes)
    name = by_name.get(correction.label) if correction.label is not None else None
    reason = "a new example of its class"
    if correction.label is None:
        reason = "none of these: no class to train, kept for review"
    elif landing is None:
        reason = "the dataset is a table (dataset_table): add the clip to the table to train on it; kept here"
        name = None
    elif name is None:
        if new_classes:
            name = _folder_name(correction.label)
            reason = "a new class (feedback_new_classes)"
        else:
            reason = f"{correction.label!r} is not a class (feedback_new_classes is off): kept for review"
    into_training = name is not None and landing is not None
    file_name = f"{FEEDBACK_PREFIX}{correction.request_id}{clip.suffix}"
    if into_training:
        assert landing is not None and name is not None
        folder = landing / name
    else:
        folder = set_aside / (correction.label or "none-of-these").replace("/", "_")
    target = folder / file_name
    provenance = folder / PROVENANCE_DIR / f"{file_name}.json"
    record = {
        "request_id": correction.request_id,
        "received_at": received_at,
        "label": correction.label,
        "class_folder": name,
        "octave": correction.octave,
        "window_index": correction.window_index,
        "note": correction.note,
        "into_training": into_training,
        "reason": reason,
        "answer": answer,
    }
    atomic_write_bytes(provenance, _json(record))  # the provenance first: the clip never lands without it
    atomic_write_bytes(target, clip.read_bytes())
    return Kept(target, provenance, into_training, name, reason)
