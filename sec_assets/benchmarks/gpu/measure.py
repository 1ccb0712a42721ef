"""The GPU check's measurements: each records its figures in a :class:`Report` (see the package
docstring). The benchmarks' own functions do the work (``benchmarks.clap``, ``benchmarks.octave``,
``benchmarks.inference``); what is added here is the product's batch sizes, the GPU sampler and
the ratios. On the CPU every GPU-only figure is recorded as missing, with the reason."""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from sec_assets.benchmarks import clap as clap_bench
from sec_assets.benchmarks import octave as octave_bench
from sec_assets.benchmarks.gpu.report import Report
from sec_assets.benchmarks.inference import RATE, recording
from sec_assets.core.audio.manifest import FilePolicy
from sec_assets.core.audio.segments import SegmentParams, decode_audio
from sec_assets.core.features import clap, octave
from sec_assets.core.features.spectrogram import LevelParams
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import label_recording
from sec_assets.core.inference.windows import WindowParams, grade, recording_windows
from sec_assets.core.settings import Settings
from sec_assets.executor.usage import GpuSampler
from sec_assets.testing.tiny_champion import tiny_champion

NO_GPU = "no GPU: this run is on the CPU (--cpu)"
SAMPLE_S = 0.5  # nvidia-smi interval while the embedding step runs
DISTINCT = 16  # distinct signals; longer runs repeat them under new segment keys
MIN_COSINE = {"fp32": 0.999, "bf16": 0.99}  # the bounds sec_assets_tests/cuda asserts


def forward_batch(model: clap.LoadedClap, settings: Settings) -> int:
    """Clips per forward as the ``clap_embeddings`` step picks them (``defs/features.py``)."""
    emb = settings.embeddings
    if model.device == "cpu":
        return emb.embed_batch_size
    return emb.embed_gpu_batch_size or clap.gpu_batch_size(model.device)


def segment_rows(count: int) -> pl.DataFrame:
    """``count`` stored-segment rows: ``benchmarks.clap``'s signals, each segment its own key."""
    base = clap_bench.make_segments(min(count, DISTINCT))
    rows = pl.concat([base] * -(-count // base.height)).head(count)
    return rows.with_columns(
        pl.Series("segment_key", [f"bench:{i:020d}:0:{i}" for i in range(count)]),
        pl.Series("source_sha256", [f"{i:064d}" for i in range(count)]),
    )


def prepared_clips(rows: pl.DataFrame) -> np.ndarray:
    distinct = rows.head(DISTINCT)["audio"]
    base = np.concatenate([clap.prepare_clip(decode_audio(a), clap.SAMPLE_RATE) for a in distinct])
    return np.concatenate([base] * -(-rows.height // base.shape[0]))[: rows.height]


def gpu_sampler(device: str) -> GpuSampler | str:
    """A sampler of this GPU, or why there is none."""
    if device == "cpu":
        return NO_GPU
    sampler = GpuSampler.for_this_job()  # CUDA_VISIBLE_DEVICES, when set, names the GPUs
    if sampler is None:
        command = shutil.which("nvidia-smi")
        if command is None:
            return "nvidia-smi is not on PATH"
        sampler = GpuSampler(visible=[str(torch.device(device).index or 0)], command=command)
    sampler.interval_s = SAMPLE_S
    return sampler


def usage_figures(report: Report, sampler: GpuSampler | str, during: str) -> None:
    summary = sampler.summary() if isinstance(sampler, GpuSampler) else {}
    reason = sampler if isinstance(sampler, str) else None
    if reason is None and not summary.get("samples"):
        reason = "nvidia-smi answered no sample of this GPU"
    how = f"nvidia-smi every {SAMPLE_S:g} s during {during} ({int(summary.get('samples', 0))} samples)"
    for name, unit, key in (
        ("gpu_util_avg_pct", "%", "util_avg"),
        ("gpu_util_max_pct", "%", "util_max"),
        ("gpu_mem_peak_mib", "MiB", "mem_peak_mb"),
    ):
        if reason is None:
            report.add(name, summary[key], unit, how)
        else:
            report.missing(name, unit, how, reason)


def clap_figures(
    report: Report, files: clap.ModelFiles, settings: Settings, device: str, clips: int
) -> clap.LoadedClap:
    """Bare forward vs the step end to end at the product's batch sizes; roofline; cosines."""
    emb = settings.embeddings
    model = clap.load_clap(files, device=device, precision=emb.embed_precision)
    batch = forward_batch(model, settings)
    on = f"{model.device}, {model.precision}"
    gpu = model.device != "cpu"
    report.add(
        "clap_forward_batch",
        batch,
        "clips",
        "embed_batch_size (the CPU runs one clip per forward)"
        if not gpu
        else f"embed_gpu_batch_size {emb.embed_gpu_batch_size}"
        if emb.embed_gpu_batch_size
        else "gpu_batch_size(): from the GPU memory free after loading the model",
    )
    rows = segment_rows(clips)
    bare = clap_bench.bare_forward(model, prepared_clips(rows), batch)
    report.add(
        "clap_bare_clips_per_s", bare, "clips/s", f"LoadedClap.embed on {clips} clips in memory ({on})"
    )
    sampler = gpu_sampler(model.device)
    if isinstance(sampler, GpuSampler):
        sampler.start()
    try:
        stats = clap_bench.end_to_end(model, rows, emb.embed_batch_size, emb.embed_workers, batch)
    finally:
        if isinstance(sampler, GpuSampler):
            sampler.stop()
    step = (
        f"clap_embeddings step end to end ({on}): {emb.embed_batch_size} segments read per batch, "
        f"{emb.embed_workers} prefetch workers, forward batch {batch}"
        + (
            f": one 7-s window per segment, so forwards of {min(batch, emb.embed_batch_size)} clips"
            if gpu
            else " (one clip per forward on the CPU)"
        )
    )
    report.add("clap_e2e_clips_per_s", stats.clips_per_second, "clips/s", step)
    report.add("clap_e2e_over_bare", stats.clips_per_second / bare, "ratio", step, at_least=0.9)
    usage_figures(report, sampler, "the embedding step (clap_e2e)")
    full_how = f"as clap_e2e, {batch} segments read per batch (= the forward batch)"
    rates = {"bare": bare, "e2e": stats.clips_per_second}
    if gpu:
        full = clap_bench.end_to_end(model, rows, batch, emb.embed_workers, batch).clips_per_second
        report.add("clap_e2e_full_batch_clips_per_s", full, "clips/s", full_how)
        report.add("clap_e2e_full_batch_over_bare", full / bare, "ratio", full_how, at_least=0.9)
    else:
        why = "the CPU runs one clip per forward: the read batch does not change the forward"
        report.missing("clap_e2e_full_batch_clips_per_s", "clips/s", full_how, why)
        report.missing("clap_e2e_full_batch_over_bare", "ratio", full_how, why)
    roofline_figures(report, rates, model)
    cosine_figures(report, files, model, rows)
    return model


def roofline_figures(report: Report, rates: dict[str, float], model: clap.LoadedClap) -> None:
    name = torch.cuda.get_device_name(model.device) if model.device != "cpu" else ""
    peak = next((v for k, v in clap_bench.DENSE_BF16_TFLOPS.items() if k in name), None)
    for what, rate in rates.items():
        figure = f"clap_{what}_roofline_fraction"
        if peak is None:
            reason = NO_GPU if not name else f"no dense bf16 peak listed for {name} (DENSE_BF16_TFLOPS)"
            report.missing(figure, "fraction", "GFLOP/clip × clips/s ÷ dense bf16 peak", reason)
            continue
        how = (
            f"{clap_bench.GFLOP_PER_CLIP} GFLOP/clip (HTSAT + projection) × {rate:.1f} clips/s "
            f"÷ {peak:g} TFLOP/s dense bf16 ({name}), at {model.precision}"
        )
        report.add(figure, clap_bench.GFLOP_PER_CLIP * rate / (peak * 1e3), "fraction", how, at_least=0.3)


def cosine_figures(
    report: Report, files: clap.ModelFiles, model: clap.LoadedClap, rows: pl.DataFrame
) -> None:
    """The smallest cosine of GPU vectors (fp32, bf16) to the CPU's, on the distinct clips."""
    clips = prepared_clips(rows.head(DISTINCT))
    how = "CUDA {} vs CPU vectors, " + f"{len(clips)} clips"
    if model.device == "cpu":
        for precision in MIN_COSINE:
            report.missing(f"clap_cosine_min_{precision}", "cosine", how.format(precision), NO_GPU)
        return
    cpu = clap.load_clap(files, device="cpu").embed(clips).astype(np.float64)
    for precision, bound in MIN_COSINE.items():
        on_gpu = (
            model
            if model.precision == precision
            else clap.load_clap(files, device=model.device, precision=precision)
        )
        gpu = on_gpu.embed(clips).astype(np.float64)
        cos = np.sum(gpu * cpu, axis=1) / (np.linalg.norm(gpu, axis=1) * np.linalg.norm(cpu, axis=1))
        report.add(f"clap_cosine_min_{precision}", float(cos.min()), "cosine", how.format(precision), bound)


def octave_figures(
    report: Report, device: str, clips: int, cpu_clips: int, batch: int, octaves: tuple[int, ...] = (3, 24)
) -> None:
    """The fast filterbank on the GPU vs the CPU path (all torch threads, as the step runs it)."""
    base, _ = octave_bench.make_clips(min(clips, 32))
    audio = np.concatenate([base] * -(-clips // base.shape[0]))[:clips]
    rate, threads = octave_bench.SAMPLE_RATE, torch.get_num_threads()
    for n in octaves:
        cpu_run = functools.partial(octave.fast_levels, audio[:cpu_clips], rate, n, device="cpu")
        t_cpu, cpu = octave_bench.timed(cpu_run)
        cpu_how = f"fast_levels on the CPU, {threads} torch threads, {cpu_clips} clips × 7 s, 1/{n} octave"
        report.add(f"octave_n{n}_cpu_clips_per_s", cpu_clips / t_cpu, "clips/s", cpu_how)
        gpu_how = f"fast_levels on {device}, batch {batch} (spectrogram_batch_size), {clips} clips × 7 s"
        names = (
            (f"octave_n{n}_gpu_clips_per_s", "clips/s", gpu_how),
            (f"octave_n{n}_gpu_over_cpu", "ratio", "GPU clips/s ÷ CPU clips/s"),
            (
                f"octave_n{n}_gpu_vs_cpu_max_db",
                "dB",
                "largest |GPU − CPU| level, bands within 50 dB of the frame's loudest",
            ),
        )
        if device == "cpu":
            for name, unit, how in names:
                report.missing(name, unit, how, NO_GPU)
            continue
        gpu_run = functools.partial(octave.fast_levels, audio, rate, n, device=device, batch_size=batch)
        t_gpu, gpu = octave_bench.timed(gpu_run, 3)  # fast_levels returns host arrays: synchronised
        loud = cpu >= cpu.max(axis=-1, keepdims=True) - 50
        values = (
            clips / t_gpu,
            (clips / t_gpu) / (cpu_clips / t_cpu),
            float(np.abs(gpu[:cpu_clips] - cpu)[loud].max()),
        )
        for (name, unit, how), value in zip(names, values, strict=True):
            report.add(name, value, unit, how)


def inference_figures(
    report: Report, model: clap.LoadedClap, settings: Settings, seconds: float, n: int = 3
) -> None:
    """One recording labelled end to end on the device: hours of audio per hour of wall time."""
    device = model.device
    with tempfile.TemporaryDirectory(prefix="sec-gpu-check-") as tmp:
        path = Path(tmp) / "field.wav"
        recording(seconds / 60, path)
        params = WindowParams().segment_params(SegmentParams(sample_rate=RATE))
        featurizer = Featurizer(
            model,
            [LevelParams(n=n, sample_rate=RATE)],
            spectrogram_device=device,
            spectrogram_batch=settings.spectrograms.spectrogram_batch_size,
            forward_batch=forward_batch(model, settings),
            workers=settings.embeddings.embed_workers,
        )
        source, _ = grade(path, path.parent, FilePolicy())
        if source is None:
            raise RuntimeError(f"the synthetic recording {path} did not pass grading")
        data, _ = featurizer.features(next(recording_windows(source, params)))  # also the warm-up
        champion = tiny_champion(data[n], n)
        started = time.perf_counter()
        labelled = label_recording(source, params, featurizer, [champion], {}, 3, 0.1)
        took = time.perf_counter() - started
    how = (
        f"label_recording of a {seconds:g}-s {RATE} Hz recording ({labelled.windows} windows): CLAP "
        f"{model.precision} and the 1/{n}-octave filterbank on {device}, a clap+octave_stats/mlp champion"
    )
    report.add("inference_real_time_factor", seconds / took, "× real time", how)
