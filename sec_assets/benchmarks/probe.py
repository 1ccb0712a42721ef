"""What grading a file costs: decoding alone vs :func:`probe` (decode + sample scan + diagnosis).

    .venv/bin/python -m sec_assets.benchmarks.probe [--minutes 10]

Writes one stereo 44.1 kHz file per format (16-bit WAV, float WAV, FLAC) of ``--minutes`` to a temp
folder, then times a bare libsndfile block decode (what the manifest did before samples were
scanned) and ``probe`` on each, best of three. Prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from sec_assets.core.audio.audio_io import PROBE_BLOCK, probe

RATE = 44100


def decode_only(path: Path) -> int:
    frames = 0
    with sf.SoundFile(path) as fh:
        for block in fh.blocks(blocksize=PROBE_BLOCK, dtype="float32", always_2d=True):
            frames += block.shape[0]
    return frames


def best_of(fn, path: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    n = round(args.minutes * 60 * RATE)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((n, 2))).astype(np.float32)
    print(f"# probe benchmark: {args.minutes:g} min stereo at {RATE} Hz, block {PROBE_BLOCK} frames")
    print(f"{'format':<10} {'decode only s':>14} {'probe s':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, subtype in (
            ("wav16", "WAV", "PCM_16"),
            ("wavfloat", "WAV", "FLOAT"),
            ("flac", "FLAC", "PCM_16"),
        ):
            path = Path(tmp) / f"a.{fmt.lower()}"
            sf.write(path, audio, RATE, format=fmt, subtype=subtype)
            bare, graded = best_of(decode_only, path), best_of(probe, path)
            print(f"{name:<10} {bare:>14.3f} {graded:>9.3f} {graded / bare:>6.2f}")


if __name__ == "__main__":
    main()
