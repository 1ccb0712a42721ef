"""Datasets in the shape of published ones, made by the tests: an ESC-50-like table over synthetic
clips (with the real table's quirk) and FSDD-like file names.

ESC-50 (``meta/esc50.csv``: ``filename,fold,target,category,esc10,src_file,take``; file names
``{fold}-{src_file}-{take}-{target}.wav``) cuts several takes from one Freesound recording
(``src_file``), and the takes share a fold. Here every class has 20 clips, 4 per fold, from 11
source recordings of 1–4 takes (the same layout in every class). The quirk of the real table — a
few ``src_file`` values in two folds under two categories (131943: clock_tick in fold 2,
clock_alarm in fold 3) — is reproduced by :data:`QUIRK_GROUPS`: one spans the test fold 1 and
fold 2, the other folds 3 and 4. Every clip is a short tone in noise seeded by a stable hash of
its file name, so the bytes (and their hashes) are the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import soundfile as sf

from sec_assets.core.datasets.table import DatasetColumns
from sec_assets.core.hashing import stable_seed

ESC50_CATEGORIES = (
    "dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow",
    "rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds", "water_drops", "wind",
    "pouring_water", "toilet_flush", "thunderstorm",
)  # fmt: skip
ESC50_COLUMNS = DatasetColumns(path="filename", label="category", group="src_file", fold="fold")
# takes per source recording, per fold: 4 clips per fold, 20 per class, 11 recordings per class
FOLD_LAYOUT = {1: (4,), 2: (2, 2), 3: (3, 1), 4: (2, 1, 1), 5: (1, 1, 1, 1)}
# src_file → ((target, fold), (target, fold)): one recording under two categories in two folds
QUIRKS = {"900001": ((0, 1), (1, 2)), "900002": ((2, 3), (3, 4))}
QUIRK_GROUPS = tuple(sorted(QUIRKS))
RATE = 8000

FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_PATTERN = r"_(?P<group>[a-z]+)_"


def clip(name: str, target: int, seconds: float = 0.25, rate: int = RATE) -> np.ndarray:
    """A tone whose pitch is the class's, in noise seeded by the file name."""
    rng = np.random.default_rng(stable_seed("esc50-like", name))
    t = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (200.0 + 90.0 * target) * t)
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def esc50_like_rows(classes: int = 20) -> pl.DataFrame:
    """The table's rows (``filename,fold,target,category,esc10,src_file,take``), quirks included."""
    if not 4 <= classes <= len(ESC50_CATEGORIES):
        raise ValueError(f"classes must be 4–{len(ESC50_CATEGORIES)} (the quirks use classes 0–3)")
    rows = []

    def add(fold: int, src: str, take: str, target: int) -> None:
        rows.append(
            {
                "filename": f"{fold}-{src}-{take}-{target}.wav",
                "fold": fold,
                "target": target,
                "category": ESC50_CATEGORIES[target],
                "esc10": target < 10,
                "src_file": src,
                "take": take,
            }
        )

    for target in range(classes):
        k = 0
        for fold, takes in FOLD_LAYOUT.items():
            for n in takes:
                src = str(100000 + 100 * target + k)
                k += 1
                for i in range(n):
                    add(fold, src, "ABCD"[i], target)
    for src, places in QUIRKS.items():
        for target, fold in places:
            add(fold, src, "A", target)
    return pl.DataFrame(rows).sort("fold", "filename")


def write_esc50_like(root: Path, classes: int = 20, fmt: str = "csv") -> tuple[Path, Path]:
    """Write ``root/audio/*.wav`` and ``root/meta/esc50.<fmt>`` (csv, tsv or parquet); return
    (table path, audio root)."""
    rows = esc50_like_rows(classes)
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    for name, target in rows.select("filename", "target").iter_rows():
        sf.write(audio / name, clip(name, target), RATE, subtype="PCM_16")
    table = root / "meta" / f"esc50.{fmt}"
    table.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        rows.write_parquet(table)
    else:
        rows.write_csv(table, separator="," if fmt == "csv" else "\t")
    return table, audio


def fsdd_names(speakers: tuple[str, ...] = FSDD_SPEAKERS, digits: int = 10, takes: int = 5) -> list[str]:
    """FSDD's file names, ``{digit}_{speaker}_{take}.wav``."""
    return [f"{d}_{s}_{t}.wav" for s in speakers for d in range(digits) for t in range(takes)]
