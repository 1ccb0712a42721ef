"""n-octave benchmark: reference (float64 full-rate SOS) vs fast path, speed and agreement.

    python -m sec_assets.benchmarks.octave [--clips 8] [--octaves 1,3,12,24] [--device cuda]

Everything is measured in one run on the same clips (7 s at 44.1 kHz: white noise, pink noise,
tones at band centres, a chirp), one core (``torch.set_num_threads(1)``; scipy's ``sosfilt`` is
single-threaded). Agreement is reported per band group for bands with bandwidth × frame ≥ 1, on
the mean level over frames (noise) and frame by frame once the reference has settled (tones,
bands within 50 dB of the loudest); bands narrower than that are listed separately.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from sec_assets.core.features import octave
from sec_assets.testing.signals import chirp, pink_noise, tone, white_noise

SAMPLE_RATE = 44100
SECONDS = 7.0
GROUPS = ((0, 100), (100, 1000), (1000, 10000), (10000, 1e9))


def make_clips(count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A repeatable mix of the signals the agreement targets are stated for."""
    n = round(SECONDS * SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    clips, kinds = [], []
    for i in range(count):
        kind = ("white", "pink", "tone", "chirp")[i % 4]
        if kind == "white":
            x = white_noise(n, rng, rms=0.1)
        elif kind == "pink":
            x = pink_noise(n, rng, rms=0.1)
        elif kind == "tone":
            x = tone(1000.0 * 2.0 ** float(rng.integers(-4, 4)), n, SAMPLE_RATE, amplitude=0.2)
        else:
            x = chirp(50.0, 15000.0, n, SAMPLE_RATE, amplitude=0.2)
        clips.append(x)
        kinds.append(kind)
    return np.stack(clips).astype(np.float32), kinds


def leq(levels: np.ndarray) -> np.ndarray:
    """(…, frames, bands) dB → (…, bands): the level of the mean energy over frames."""
    return 10 * np.log10(np.mean(10 ** (levels.astype(np.float64) / 10), axis=-2))


def settled_mask(bands: octave.Bands, n_frames: int, frame_seconds: float) -> np.ndarray:
    """(frames, bands): frames after the reference filter's start-up (≈ 5.7 / (bw·T) frames)."""
    bw_t = (bands.upper - bands.lower) * frame_seconds
    settle = np.maximum(1, np.ceil(5.7 / np.maximum(bw_t, 1e-9))).astype(int)
    return np.arange(n_frames)[:, None] >= settle[None, :]


def timed(fn: Callable[[], np.ndarray], repeats: int = 1) -> tuple[float, np.ndarray]:
    fn()  # warm-up: plans, caches, allocator
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn()
    return (time.perf_counter() - start) / repeats, result


def reference_all(clips: np.ndarray, n: int) -> np.ndarray:
    return np.stack([octave.reference_levels(c, SAMPLE_RATE, n) for c in clips])


def run(clip_count: int, octaves: list[int], device: str | None) -> None:
    torch.set_num_threads(1)
    clips, kinds = make_clips(clip_count)
    print(f"# n-octave benchmark — {platform.processor() or platform.machine()}, torch {torch.__version__}")
    kinds_txt = ", ".join(sorted(set(kinds)))
    print(f"# {clip_count} clips × {SECONDS:.0f} s at {SAMPLE_RATE} Hz ({kinds_txt}); one core")
    print(f"# cpu affinity {len(os.sched_getaffinity(0))} cores; torch threads {torch.get_num_threads()}")
    print()
    header = "| n | bands | reference clips/s | fast clips/s | speed-up |"
    rows = [header, "|---|---|---|---|---|"]
    gpu_rows = []
    accuracy = []
    for n in octaves:
        t_ref, ref = timed(functools.partial(reference_all, clips, n))
        t_fast, fast = timed(functools.partial(octave.fast_levels, clips, SAMPLE_RATE, n, device="cpu"), 3)
        bands = octave.band_grid(n, SAMPLE_RATE)
        speeds = f"{clip_count / t_ref:.1f} | {clip_count / t_fast:.1f} | {t_ref / t_fast:.1f}×"
        rows.append(f"| {n} | {len(bands)} | {speeds} |")
        if device and device.startswith("cuda"):
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
            big = np.repeat(clips, 8, axis=0)
            gpu_call = functools.partial(
                octave.fast_levels, big, SAMPLE_RATE, n, device=device, batch_size=64
            )
            t_gpu, gpu = timed(gpu_call, 3)
            gpu_dev = float(np.max(np.abs(gpu[:clip_count] - fast)))
            gpu_rows.append(f"| {n} | {big.shape[0] / t_gpu:.0f} | {gpu_dev:.4f} |")
            torch.set_num_threads(1)
        accuracy.extend(agreement_rows(n, bands, ref, fast, kinds))
    print("\n".join(rows))
    if gpu_rows:
        print()
        print(f"GPU ({torch.cuda.get_device_name()}), batch 64:")
        print("| n | fast clips/s | max |Δ| vs CPU fast (dB) |")
        print("|---|---|---|")
        print("\n".join(gpu_rows))
    print()
    print("Agreement with the reference, |fast − reference| in dB (max / mean):")
    print(
        "| n | band group | bands | noise: Leq over frames | tones: each settled frame, bands within 50 dB "
        "| chirp: Leq over frames, bands within 50 dB |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(accuracy))


def agreement_rows(
    n: int, bands: octave.Bands, ref: np.ndarray, fast: np.ndarray, kinds: list[str]
) -> list[str]:
    frame_seconds = 0.1
    resolvable = (bands.upper - bands.lower) * frame_seconds >= 1
    kind = np.array(kinds)
    noise, tones, chirps = np.isin(kind, ("white", "pink")), kind == "tone", kind == "chirp"
    settled = settled_mask(bands, ref.shape[1], frame_seconds)
    rows = []
    for lo, hi in GROUPS:
        for narrow in (False, True):
            in_group = (bands.center >= lo) & (bands.center < hi) & (resolvable != narrow)
            if not in_group.any():
                continue
            cells = []
            for sel in (noise, chirps):  # level of the energy averaged over frames (Leq)
                ref_leq = leq(ref[sel])
                loud_bands = ref_leq >= ref_leq.max(axis=-1, keepdims=True) - 50
                dev = np.abs(leq(fast[sel]) - ref_leq)[loud_bands & in_group[None]]
                cells.append(f"{dev.max():.2f} / {dev.mean():.3f}" if dev.size else "—")
            loud = ref[tones] >= ref[tones].max(axis=2, keepdims=True) - 50
            mask = loud & settled[None] & in_group[None, None]
            dev = np.abs(fast[tones] - ref[tones])[mask]
            cells.insert(1, f"{dev.max():.2f} / {dev.mean():.3f}" if dev.size else "—")
            label = f"{lo:g}–{hi:g} Hz" if hi < 1e9 else f"≥ {lo:g} Hz"
            label += " (bw·T < 1)" if narrow else ""
            rows.append(f"| {n} | {label} | {int(in_group.sum())} | " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--octaves", default="1,3,12,24")
    parser.add_argument("--device", default=None, help="also time the fast path here (e.g. cuda)")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else None)
    run(args.clips, [int(v) for v in args.octaves.split(",")], device)


if __name__ == "__main__":
    main()
