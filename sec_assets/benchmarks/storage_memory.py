"""Storage and time per hour of audio (PCM vs recipe segments), each per-class step's peak RSS.

    python -m sec_assets.benchmarks.storage_memory [--minutes 20] [--small 100] [--large 10000]
        [--clap-large 1000] [--workdir DIR]

1. **Bytes per hour of source audio, and time, per segment storage.** One class of 60-s
   recordings (tone + noise, 44.1 kHz 16-bit WAV, ``--minutes`` in all) through the per-class
   steps and ``octave_spectrograms`` at every octave with the default settings (7-s segments at
   44.1 kHz, one round), once with ``segment_storage: pcm`` and once with ``recipe`` (two homes,
   one landing folder); each asset's partition folder is measured and divided by the hours of
   audio, and each step's seconds (in its process, after the imports) are printed for both.
2. **Peak RSS per step.** Classes of ``--small``, ``--clap-large`` and ``--large`` 1-s files (16 kHz;
   ``segment_seconds: 1``, ``target_sample_rate: 16000`` so 10,000 segments fit this machine);
   every step runs in a fresh process that, after the imports, resets the kernel's peak-RSS
   mark (``/proc/self/clear_refs``), and prints its RSS then and its peak (``VmHWM``) after the
   step — the step's own peak, not the imports'. ``clap_embeddings`` runs at ``--clap-large`` files instead of
   ``--large`` (CPU CLAP: ≈ 7 clips/s here; the random-init 2023 model has the real FLOPs).

A step whose memory is bounded by its row group (16 MB of stored rows), not by the class, shows
the same peak at 1,000 and 10,000 files: both fill whole row groups (100 files fill a part of one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from sec_assets.testing.signals import tone, white_noise

PER_CLASS = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]
CHILD = r"""
import json, os, sys, time
import sec_assets.definitions  # the code location's imports (dagster, polars, duckdb)
import torch, scipy.signal  # imported on first use by the compute steps: part of the base, not the step
from dagster import DagsterInstance, materialize
from sec_assets.core.settings import load_settings
from sec_assets.defs import ALL_ASSETS
from sec_assets.resources import SecResource
asset, key = sys.argv[1], sys.argv[2]
settings = load_settings()

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB → MB
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
base = status("VmRSS")
started = time.perf_counter()
with DagsterInstance.get() as instance:
    result = materialize(ALL_ASSETS, selection=[asset], partition_key=key,
                         resources={"sec": SecResource.from_settings(settings)}, instance=instance)
assert result.success
print(json.dumps({"base_mb": base, "peak_mb": status("VmHWM"),
                  "seconds": time.perf_counter() - started}))
"""


def write_class(folder: Path, files: int, seconds: float, rate: int, seed: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    for i in range(files):
        x = tone(220.0 * (1 + (i % 12) / 12), n, rate, 0.2) + white_noise(n, rng, 0.02)
        sf.write(folder / f"r{i:05d}.wav", x.astype(np.float32), rate, subtype="PCM_16")
    return files * seconds / 3600


def step(env: dict[str, str], asset: str, key: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, asset, key], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{asset} {key}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def environment(work: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    from sec_assets.core.features.clap_store import ensure_random_init_model

    dagster_home = work / name / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    models = work / "models"
    ensure_random_init_model(models)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "SEC_HOME": str(work / name / "home")}
    env.update({"SEC_AUDIO_ROOT": str(work / name / "landing"), "SEC_MODELS": str(models)})
    env.update({"SEC_ALLOW_RANDOM_INIT": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"})
    env.pop("SEC_EXECUTOR", None)
    env.update(extra)
    return env


def register(env: dict[str, str]) -> None:
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "sec-assets"), "scan"], env=env, check=True, capture_output=True)


def storage_per_hour(work: Path, minutes: float) -> None:
    """Bytes per hour of audio per asset, and each step's seconds, for both ``segment_storage``
    modes on the same recordings (one landing folder, two homes)."""
    from sec_assets.core.store import storage

    octaves = (1, 3, 6, 12, 24)
    steps = [(a, "birds") for a in PER_CLASS] + [("octave_spectrograms", f"birds|{n}") for n in octaves]
    landing = work / "storage-landing"
    hours = write_class(landing / "birds", int(minutes), 60.0, 44100, 0)
    sizes: dict[str, dict[str, int]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for mode in ("pcm", "recipe"):
        extra = {"SEC_TARGET_SAMPLE_RATE": "44100", "SEC_SEGMENT_SECONDS": "7"}
        env = environment(work, f"storage-{mode}", {**extra, "SEC_SEGMENT_STORAGE": mode})
        env["SEC_AUDIO_ROOT"] = str(landing)
        register(env)
        home = Path(env["SEC_HOME"])
        for asset, key in steps:
            name = asset if "|" not in key else f"octave_spectrograms 1/{key.split('|')[1]}"
            seconds.setdefault(name, {})[mode] = step(env, asset, key)["seconds"]
            dims = {"audio_class": "birds"} | ({"octave": key.split("|")[1]} if "|" in key else {})
            sizes.setdefault(name, {})[mode] = folder_bytes(storage.partition_dir(home, asset, dims))
    source = folder_bytes(landing)
    print(
        f"\n{minutes:g} min of 44.1 kHz 16-bit mono WAV "
        f"({source / 1e6:.1f} MB, {source / hours / 1e6:.0f} MB/h); segment_storage pcm | recipe"
    )
    print("| asset | bytes, pcm | MB/h, pcm | bytes, recipe | MB/h, recipe | step s, pcm | step s, recipe |")
    print("|---|---|---|---|---|---|---|")
    for name in sizes:
        b, t = sizes[name], seconds[name]
        print(
            f"| {name} | {b['pcm']:,} | {b['pcm'] / hours / 1e6:.1f} | {b['recipe']:,} | "
            f"{b['recipe'] / hours / 1e6:.1f} | {t['pcm']:.1f} | {t['recipe']:.1f} |"
        )
    total = {m: sum(b[m] for b in sizes.values()) for m in ("pcm", "recipe")}
    spent = {m: sum(t[m] for t in seconds.values()) for m in ("pcm", "recipe")}
    print(
        f"| all | {total['pcm']:,} | {total['pcm'] / hours / 1e6:.1f} | {total['recipe']:,} | "
        f"{total['recipe'] / hours / 1e6:.1f} | {spent['pcm']:.1f} | {spent['recipe']:.1f} |"
    )


def rss(work: Path, small: int, large: int, clap_large: int) -> None:
    extra = {"SEC_TARGET_SAMPLE_RATE": "16000", "SEC_SEGMENT_SECONDS": "1", "SEC_OCTAVES": "1,3,6,12,24"}
    env = environment(work, "rss", extra)
    root = Path(env["SEC_AUDIO_ROOT"])
    sizes = {"small": small, "large": large, "clap_large": clap_large}
    for name, files in sizes.items():
        write_class(root / name, files, 1.0, 16000, files)
    register(env)
    print(
        "\npeak RSS per step (fresh process; RSS after the imports, then the step's own peak), "
        "1-s files at 16 kHz"
    )
    print("| step | files | base MB | peak MB | peak − base MB | seconds |")
    print("|---|---|---|---|---|---|")
    plan = [(a, n) for a in PER_CLASS[:3] for n in ("small", "clap_large", "large")]
    plan += [("clap_embeddings", "small"), ("clap_embeddings", "clap_large")]
    plan += [("octave_spectrograms", n) for n in ("small", "clap_large", "large")]
    for asset, name in plan:
        r = step(env, asset, f"{name}|3" if asset == "octave_spectrograms" else name)
        label = "octave_spectrograms 1/3" if asset == "octave_spectrograms" else asset
        print(
            f"| {label} | {sizes[name]:,} | {r['base_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['peak_mb'] - r['base_mb']:.0f} | {r['seconds']:.1f} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sec_assets.benchmarks.storage_memory")
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--clap-large", type=int, default=1000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--only", choices=["storage", "rss"], help="one of the two parts")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sec-storage-"))
    if args.only != "rss":
        storage_per_hour(work, args.minutes)
    if args.only != "storage":
        rss(work, args.small, args.large, args.clap_large)
    return 0


if __name__ == "__main__":
    sys.exit(main())
