"""A dataset table at scale: parse, check every file, find the classes, build the entries.

    python -m sec_assets.benchmarks.dataset_table [--rows 10000] [--classes 1000] [--dir DIR]

Writes ``--rows`` tiny WAV clips (0.2 s, 8 kHz) spread over ``--classes`` labels in one flat
``audio/`` folder (ESC-50's layout) and a CSV in ESC-50's shape (``filename,fold,target,category,
esc10,src_file,take``), then times, each in a fresh cache:

- ``read_dataset_table`` with every file's header opened (what ``sec-assets scan`` does);
- the same without opening files (class discovery in sensors and steps);
- ``DatasetSpec.classes()`` — the labels as partition keys;
- the manifest entries of every class (each step asks for its own class's);
- the rows' hash per label (the sensor's change test);
- a second ``classes()`` on the cached read.

Goal (issue 26): a 10,000-row table over 1,000 classes parsed and scanned in under 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import soundfile as sf

from sec_assets.core.datasets import source
from sec_assets.core.datasets.source import DatasetSpec
from sec_assets.core.datasets.table import DatasetColumns, read_dataset_table

T = TypeVar("T")
COLUMNS = DatasetColumns(path="filename", label="category", group="src_file", fold="fold")


def build(root: Path, rows: int, classes: int) -> Path:
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    clip = (0.1 * np.sin(np.arange(1600) / 5.0)).astype(np.float32)
    records = []
    for i in range(rows):
        target, fold, src = i % classes, 1 + (i // classes) % 5, 100000 + i // 2
        name = f"{fold}-{src}-{'AB'[i % 2]}-{target}.wav"
        sf.write(audio / name, clip, 8000, subtype="PCM_16")
        records.append(
            {
                "filename": name,
                "fold": fold,
                "target": target,
                "category": f"class_{target:04d}",
                "esc10": False,
                "src_file": str(src),
                "take": "AB"[i % 2],
            }
        )
    table = root / "meta.csv"
    pl.DataFrame(records).write_csv(table)
    return table


def timed(label: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    out = fn()
    print(f"{label:<48} {time.perf_counter() - started:7.3f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        table = timed(f"write {args.rows} clips and the table", lambda: build(root, args.rows, args.classes))
        audio = root / "audio"
        total = time.perf_counter()
        checked = timed(
            "read + check every file (sec-assets scan)", lambda: read_dataset_table(table, COLUMNS, audio)
        )
        scan_s = time.perf_counter() - total
        print(
            f"  rows {checked.rows.height}, failed {checked.failures.height}, "
            f"warnings {len(checked.warnings)}"
        )
        timed("read, no files opened", lambda: read_dataset_table(table, COLUMNS, audio, check_files=False))
        spec = DatasetSpec(audio_root=audio, table=table, columns=COLUMNS)
        source._read_cached.cache_clear()
        classes = timed("classes() (labels → partition keys)", spec.classes)
        timed(
            f"entries of all {len(classes)} classes",
            lambda: sum(len(spec.entries(name)) for name in classes.values()),
        )
        timed("rows' hash per label", lambda: [spec.rows_hash(name) for name in classes.values()])
        timed("classes() again (cached read)", spec.classes)
        print(f"parsed and scanned ({args.rows} rows, {len(classes)} classes): {scan_s:.2f} s (goal < 10 s)")


if __name__ == "__main__":
    main()
