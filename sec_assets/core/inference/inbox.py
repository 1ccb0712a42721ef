"""The inbox: which recordings to label, and which are already done with the current models.

A recording is *done* when its marker (``predictions/.done/<sha256>.json``) names the same run
key — the champions' names and versions and the window / top-k settings. The marker is written
after the recording's ``predictions`` partition and result files (each written atomically), so a
run killed at any point leaves each recording either done or to be redone, never half-written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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
