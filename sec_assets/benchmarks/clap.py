"""CLAP benchmark: bare encoder forward vs the ``clap_embeddings`` step end to end, in one run.

    python -m sec_assets.benchmarks.clap [--clips 48] [--rounds 3] [--device cuda] [--batch-sizes 8,32]

*Bare forward*: prepared (308 700-sample float32) clips already in memory, ``LoadedClap.embed``
only. *End to end*: the same clips stored as segments in a scratch ``SEC_HOME``, then
:func:`sec_assets.core.features.embedding.embed_stored_partition` — Parquet read, float16 decode, hash,
preprocessing in prefetch threads, forward, resume shards, the finished partition written.
Their ratio is what the pipeline costs on top of the model (target ≥ 0.9).

Uses the real weights when ``SEC_MODELS`` holds them, else the seeded random-init model of the
same architecture (same FLOPs). On CUDA it also prints clips/s at bf16 and fp32 for a range of
batch sizes and the fraction of the GPU's dense bf16 peak at ≈ 14.1 GFLOP per 7-s clip.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from sec_assets.core.audio.segments import decode_audio, encode_audio
from sec_assets.core.features import clap, clap_store, embedding
from sec_assets.core.features.clap_store import ensure_random_init_model
from sec_assets.core.settings import load_settings
from sec_assets.core.store import storage
from sec_assets.testing.signals import chirp, pink_noise, tone, white_noise

GFLOP_PER_CLIP = 14.1  # HTSAT + projection, one 7-s clip (msclap-internals note)
DENSE_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}
DIMS = {"audio_class": "bench"}


def make_segments(count: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = clap.CLIP_SAMPLES
    rows = []
    for i in range(count):
        kind = i % 4
        x = (
            white_noise(n, rng, rms=0.1)
            if kind == 0
            else pink_noise(n, rng, rms=0.1)
            if kind == 1
            else tone(250.0 * (1 + i % 7), n, clap.SAMPLE_RATE, amplitude=0.2)
            if kind == 2
            else chirp(50.0, 15000.0, n, clap.SAMPLE_RATE, amplitude=0.2)
        )
        rows.append(
            {
                "segment_key": f"bench:{i:020d}:0:{i}",
                "source_sha256": f"{i:064d}",
                "sample_rate": clap.SAMPLE_RATE,
                "audio": encode_audio(x),
            }
        )
    return pl.DataFrame(rows)


def bare_forward(model: clap.LoadedClap, clips: np.ndarray, batch: int) -> float:
    """clips/s of ``embed`` alone, clips already prepared in memory."""
    model.embed(clips[:batch])  # warm-up
    if model.device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(0, clips.shape[0], batch):
        model.embed(clips[i : i + batch])
    if model.device != "cpu":
        torch.cuda.synchronize()
    return clips.shape[0] / (time.perf_counter() - start)


def end_to_end(
    model: clap.LoadedClap,
    segments: pl.DataFrame,
    batch: int,
    workers: int,
    forward_batch: int | None = None,
) -> embedding.EmbedStats:
    """The step on ``segments`` in a scratch home: ``batch`` segments read per batch, forwards of
    ``forward_batch`` clips (default: ``batch``)."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        storage.write_partition(home, "augmented_segments", DIMS, segments)
        _, stats = embedding.embed_stored_partition(
            home,
            DIMS,
            "bench",
            model,
            "bench",
            batch_size=batch,
            workers=workers,
            forward_batch=forward_batch or batch,
        )
    return stats


def run(clips: int, device: str, batch_sizes: list[int], workers: int, rounds: int = 3) -> None:
    settings = load_settings()
    files = clap_store.real_model_files(settings.model_store)
    scratch = None
    if files is None:
        scratch = tempfile.TemporaryDirectory()
        files = ensure_random_init_model(Path(scratch.name))
    threads = torch.get_num_threads()
    segments = make_segments(clips)
    prepared = np.concatenate(
        [clap.prepare_clip(decode_audio(a), clap.SAMPLE_RATE) for a in segments["audio"]]
    )
    print(f"# CLAP benchmark — {files.model_id}, torch {torch.__version__}")
    cores = len(os.sched_getaffinity(0))
    print(f"# {clips} clips × 7 s at 44.1 kHz; torch threads {threads}; cpu affinity {cores}")
    print(f"# prefetch workers {workers}")
    print()
    model = clap.load_clap(files, device="cpu")
    batch = batch_sizes[0]
    print("CPU, fp32 (one clip per forward on CPU; see clap.LoadedClap); rounds alternate bare / end to end")
    print(
        "| round | bare forward clips/s | end-to-end clips/s | end-to-end / bare | model waited for input |"
    )
    print("|---|---|---|---|---|")
    bare_t = e2e_t = 0.0
    for r in range(rounds):
        bare = bare_forward(model, prepared, batch)
        stats = end_to_end(model, segments, batch, workers)
        e2e = stats.embedded / stats.seconds
        bare_t, e2e_t = bare_t + clips / bare, e2e_t + stats.seconds
        wait = stats.input_wait_seconds / stats.seconds
        print(f"| {r + 1} | {bare:.2f} | {e2e:.2f} | {e2e / bare:.3f} | {100 * wait:.1f} % of wall time |")
    print(f"| all | {rounds * clips / bare_t:.2f} | {rounds * clips / e2e_t:.2f} | {bare_t / e2e_t:.3f} | |")
    if device.startswith("cuda"):
        gpu_report(files, prepared, segments, batch_sizes, workers)
    if scratch is not None:
        scratch.cleanup()


def gpu_report(
    files: clap.ModelFiles, prepared: np.ndarray, segments: pl.DataFrame, batch_sizes: list[int], workers: int
) -> None:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in DENSE_BF16_TFLOPS.items() if k in name), None)
    print()
    print(f"GPU ({name}); roofline: dense bf16 peak {peak or '?'} TFLOP/s × {GFLOP_PER_CLIP} GFLOP/clip")
    print("| precision | batch | bare clips/s | fraction of bf16 peak |")
    print("|---|---|---|---|")
    big = np.concatenate([prepared] * max(1, -(-max(batch_sizes) * 4 // prepared.shape[0])))
    best = (0.0, 0)
    for precision in ("bf16", "fp32"):
        model = clap.load_clap(files, device="cuda", precision=precision)
        for batch in batch_sizes:
            speed = bare_forward(model, big[: max(batch * 4, batch)], batch)
            frac = f"{speed * GFLOP_PER_CLIP / (peak * 1e3):.1%}" if peak else "–"
            print(f"| {precision} | {batch} | {speed:.1f} | {frac} |")
            if precision == "bf16" and speed > best[0]:
                best = (speed, batch)
    model = clap.load_clap(files, device="cuda", precision="bf16")
    auto = clap.gpu_batch_size("cuda")
    stats = end_to_end(model, pl.concat([segments] * 4), best[1], workers)
    print()
    print(
        f"end to end on GPU, bf16, batch {best[1]}: {stats.embedded / stats.seconds:.1f} clips/s "
        f"({stats.embedded / stats.seconds / best[0]:.2f} of bare); batch from free memory would be {auto}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", default="8", help="first one is used on CPU; all on GPU")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating bare / end-to-end rounds on CPU")
    args = parser.parse_args()
    run(args.clips, args.device, [int(b) for b in args.batch_sizes.split(",")], args.workers, args.rounds)


if __name__ == "__main__":
    main()
