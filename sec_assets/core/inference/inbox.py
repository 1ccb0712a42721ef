"""The inbox: which recordings to label, and which are already done with the current models.

A recording is *done* when its marker (``predictions/.done/<sha256>.json``) names the same run
key — the champions' names and versions and the window / top-k settings. The marker is written
after the recording's ``predictions`` partition and result files (each written atomically), so a
run killed at any point leaves each recording either done or to be redone, never half-written.

The marker also keeps the path, size and mtime the recording had when it was hashed, so a later
run finds an unchanged file's content hash without reading it again (:func:`known`, git's index
trick); a file whose size or mtime moved is hashed again. Two files with the same content share
one marker (and one ``predictions`` partition): only the first path is remembered.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from sec_assets.core.audio.keys import in_progress
from sec_assets.core.hashing import stable_hex
from sec_assets.core.store.storage import atomic_write_bytes


def recordings(inbox: Path) -> Iterator[Path]:
    """Files under ``inbox`` in path order, skipping hidden folders and files still being written."""
    for root, dirs, files in os.walk(inbox):
        dirs[:] = sorted(d for d in dirs if not in_progress(d))
        for name in sorted(files):
            if not in_progress(name):
                yield Path(root) / name


def run_key(settings: Mapping[str, Any]) -> str:
    return stable_hex(json.dumps(settings, sort_keys=True, default=str), size=8)


def marker(out: Path, sha256: str) -> Path:
    return out / ".done" / f"{sha256}.json"


def is_done(out: Path, sha256: str, key: str) -> bool:
    path = marker(out, sha256)
    try:
        return json.loads(path.read_text()).get("run_key") == key
    except (OSError, ValueError):
        return False


def mark_done(out: Path, sha256: str, key: str, record: Mapping[str, Any]) -> None:
    atomic_write_bytes(marker(out, sha256), json.dumps({"run_key": key, **record}, sort_keys=True).encode())


class Known(NamedTuple):
    sha256: str
    run_key: str


def known(out: Path) -> dict[tuple[str, int, int], Known]:
    """(path, size, mtime_ns) → the content hash and run key of every done marker."""
    found: dict[tuple[str, int, int], Known] = {}
    folder = out / ".done"
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
            found[(record["path"], int(record["size"]), int(record["mtime_ns"]))] = Known(
                path.stem, record["run_key"]
            )
        except (OSError, ValueError, KeyError):  # an older or damaged marker: the file is hashed
            continue
    return found


def done_shas(out: Path) -> list[str]:
    folder = out / ".done"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def unmark(out: Path, sha256: str) -> None:
    marker(out, sha256).unlink(missing_ok=True)
