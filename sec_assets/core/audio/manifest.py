"""Scan the landing folder: class folders → partition keys, class files → manifest rows.

Every file under a class folder gets a row. Corrupt, empty, truncated, non-audio or unreadable
files are recorded with ``status='failed'`` and a human-readable ``error`` instead of stopping the
partition: a few bad uploads must never block a class of thousands of good ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from sec_assets.core.audio.audio_io import AudioDecodeError, probe
from sec_assets.core.audio.keys import is_hidden, partition_keys_for
from sec_assets.core.hashing import file_sha256
from sec_assets.core.store.catalog import TABLE_SCHEMAS


def discover_classes(audio_root: Path) -> dict[str, str]:
    """Map partition key → class folder name for every visible sub-folder of the landing folder."""
    if not audio_root.is_dir():
        raise FileNotFoundError(
            f"landing folder {audio_root} does not exist: set SEC_AUDIO_ROOT or audio_root in "
            "configs/sec.yaml to a folder with one sub-folder per class"
        )
    names = [p.name for p in audio_root.iterdir() if p.is_dir() and not is_hidden(p.name)]
    return {key: name for name, key in partition_keys_for(names).items()}


def iter_class_files(class_dir: Path) -> Iterator[Path]:
    """All visible files below a class folder, recursively, in a stable order."""
    for root, dirs, files in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if not is_hidden(name):
                yield Path(root) / name


def manifest_row(path: Path, class_dir: Path, audio_class: str, partition_key: str) -> dict[str, Any]:
    """One manifest row; never raises for a bad file, it records why instead."""
    row: dict[str, Any] = {
        "audio_class": audio_class,
        "partition_key": partition_key,
        "path": str(path),
        "relative_path": str(path.relative_to(class_dir)),
        "format": None,
        "sample_rate": None,
        "channels": None,
        "frames": None,
        "duration_s": None,
        "sha256": None,
        "size_bytes": None,
        "status": "failed",
        "error": None,
    }
    try:
        row["size_bytes"] = path.stat().st_size
        row["sha256"] = file_sha256(path)
        info = probe(path)
    except AudioDecodeError as exc:
        row["error"] = str(exc)
        return row
    except OSError as exc:
        row["error"] = f"unreadable: {exc.strerror or exc}"
        return row
    row.update(
        format=info.format,
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=info.frames,
        duration_s=info.duration_s,
        status="ok",
    )
    return row


def scan_class(
    class_dir: Path,
    audio_class: str,
    partition_key: str,
    progress: Callable[[int, Path], None] | None = None,
) -> pl.DataFrame:
    """The manifest of one class folder (rows for good and failed files alike)."""
    rows = []
    for i, path in enumerate(iter_class_files(class_dir)):
        rows.append(manifest_row(path, class_dir, audio_class, partition_key))
        if progress:
            progress(i + 1, path)
    return pl.DataFrame(rows, schema=TABLE_SCHEMAS["raw_manifest"])
