"""``python -m sec_assets.benchmarks.gpu --out OUT_DIR [--cpu]``: see the package docstring."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sec_assets.benchmarks.gpu import __doc__ as DOC
from sec_assets.benchmarks.gpu.measure import clap_figures, inference_figures, octave_figures
from sec_assets.benchmarks.gpu.report import Report, device_info, junit_counts
from sec_assets.core.features import clap, clap_store
from sec_assets.core.settings import Settings, load_settings

# sizes: a GPU run (one H200: the CLAP part ≈ 3 × 4096 clips) and a short CPU run (a few clips)
GPU_SIZES = {"clips": 4096, "octave_clips": 256, "octave_cpu_clips": 32, "inference_seconds": 1200.0}
CPU_SIZES = {"clips": 2, "octave_clips": 8, "octave_cpu_clips": 8, "inference_seconds": 10.0}


def model_files(models: Path | None, settings: Settings, scratch: Path) -> clap.ModelFiles:
    """Real weights where the store has them, else the seeded random-init model (same FLOPs)."""
    store = models or settings.model_store
    real = clap_store.real_model_files(store)
    if real is not None:
        return real
    return clap_store.ensure_random_init_model(models or scratch)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu.json and gpu.md")
    parser.add_argument("--cpu", action="store_true", help="the same paths on the CPU, short sizes")
    for name, value in GPU_SIZES.items():
        kind = float if isinstance(value, float) else int
        short = CPU_SIZES[name]
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"default {value} ({short} with --cpu)"
        )
    parser.add_argument(
        "--models", type=Path, help="model store (default: SEC_MODELS's real weights, else random init)"
    )
    parser.add_argument(
        "--junit", type=Path, help="pytest's JUnit XML of the CUDA tests, recorded in the report"
    )
    parser.add_argument("--torch-source", default="", help="which python and torch the script chose")
    parser.add_argument("--setup-seconds", type=float, help="time the script spent installing torch")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print(
            f"gpu check: torch {torch.__version__} sees no CUDA GPU (--cpu: the same paths on the CPU)",
            file=sys.stderr,
        )
        return 2
    device = "cpu" if args.cpu else "cuda"
    defaults = CPU_SIZES if args.cpu else GPU_SIZES
    sizes = {k: v if getattr(args, k) is None else getattr(args, k) for k, v in defaults.items()}
    started = time.perf_counter()
    settings = load_settings()
    report = Report(device_info(device))
    tests = junit_counts(args.junit) if args.junit else "not run (no --junit)"
    report.info.update(
        torch_source=args.torch_source or None,
        setup_seconds=args.setup_seconds,
        cuda_tests=tests if isinstance(tests, dict) else {"reason": tests},
        sizes=sizes,
        settings={
            "embed_batch_size": settings.embeddings.embed_batch_size,
            "embed_workers": settings.embeddings.embed_workers,
            "embed_precision": settings.embeddings.embed_precision,
            "spectrogram_batch_size": settings.spectrograms.spectrogram_batch_size,
        },
    )
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sec-gpu-check-") as scratch:
        files = model_files(args.models, settings, Path(scratch))
        report.info["model"] = {"id": files.model_id, "random_init": files.random_init}
        mark = time.perf_counter()
        model = clap_figures(report, files, settings, device, int(sizes["clips"]))
        seconds["clap"], mark = time.perf_counter() - mark, time.perf_counter()
        batch = settings.spectrograms.spectrogram_batch_size
        octave_figures(report, device, int(sizes["octave_clips"]), int(sizes["octave_cpu_clips"]), batch)
        seconds["octave"], mark = time.perf_counter() - mark, time.perf_counter()
        inference_figures(report, model, settings, float(sizes["inference_seconds"]))
        seconds["inference"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    report.info["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    json_path, md_path = report.write(args.out)
    print(md_path.read_text())
    print(f"gpu check: {json_path} and {md_path} written in {seconds['total']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
