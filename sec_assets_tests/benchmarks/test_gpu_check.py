"""scripts/gpu_check.sh --cpu: the GPU check's script end to end on the CPU — the CUDA tests skip,
every CPU figure is measured (finite, positive), every GPU-only figure is null with its reason;
and the GPU usage figures as they come from nvidia-smi's answers (a stand-in nvidia-smi)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
import torch

from sec_assets.benchmarks.gpu.__main__ import CPU_SIZES
from sec_assets.benchmarks.gpu.measure import NO_GPU, usage_figures
from sec_assets.benchmarks.gpu.report import Report
from sec_assets.executor.usage import GpuSampler

ROOT = Path(__file__).resolve().parents[2]
MEASURED_ON_CPU = {
    "clap_forward_batch",
    "clap_bare_clips_per_s",
    "clap_e2e_clips_per_s",
    "clap_e2e_over_bare",
    "octave_n3_cpu_clips_per_s",
    "octave_n24_cpu_clips_per_s",
    "inference_real_time_factor",
}
GPU_ONLY = {
    "gpu_util_avg_pct",
    "gpu_util_max_pct",
    "gpu_mem_peak_mib",
    "clap_e2e_full_batch_clips_per_s",
    "clap_e2e_full_batch_over_bare",
    "clap_bare_roofline_fraction",
    "clap_e2e_roofline_fraction",
    "clap_cosine_min_fp32",
    "clap_cosine_min_bf16",
    *(f"octave_n{n}_{f}" for n in (3, 24) for f in ("gpu_clips_per_s", "gpu_over_cpu", "gpu_vs_cpu_max_db")),
}


@pytest.fixture(scope="module")
def check(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, str]:
    out = tmp_path_factory.mktemp("gpu_check")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(out), "--cpu", "--models", str(model_store)],
        cwd=ROOT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # the CPU run never looks at a GPU
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, json.loads((out / "gpu.json").read_text()), (out / "gpu.md").read_text()


@pytest.mark.slow
def test_the_cpu_run_says_what_it_ran_on(check):
    stdout, report, _ = check
    assert "gpu check: python " in stdout and "the project's .venv (--cpu)" in stdout
    assert report["schema"] == "sec-gpu-check/1"
    assert report["device"] == "cpu" and report["device_name"].startswith("cpu")
    assert report["torch"] == torch.__version__
    assert (
        report["torch_cuda"] is None and report["gpu_memory_gib"] is None and report["setup_seconds"] is None
    )
    assert report["sizes"] == CPU_SIZES
    assert report["model"]["random_init"] is True
    tests = report["cuda_tests"]  # collected from sec_assets_tests/cuda and skipped: no GPU
    assert tests["tests"] >= 7 and tests["skipped"] == tests["tests"]
    assert tests["passed"] == tests["failed"] == tests["errors"] == 0
    assert report["seconds"]["total"] > 0


@pytest.mark.slow
def test_cpu_figures_are_measured_and_gpu_figures_are_null_with_the_reason(check):
    _, report, markdown = check
    figures = report["figures"]
    assert set(figures) == MEASURED_ON_CPU | GPU_ONLY
    for name in MEASURED_ON_CPU:
        value = figures[name]["value"]
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (name, value)
        assert figures[name]["reason"] is None and figures[name]["how"]
        assert f"| {name} | {value:.4g} |" in markdown
    for name in GPU_ONLY:
        assert figures[name]["value"] is None, name
        reason = figures[name]["reason"]
        assert "no GPU" in reason or "one clip per forward" in reason, (name, reason)
        assert f"| {name} | null |" in markdown
    assert figures["clap_forward_batch"]["value"] == report["settings"]["embed_batch_size"]
    ratio = figures["clap_e2e_over_bare"]
    e2e, bare = figures["clap_e2e_clips_per_s"]["value"], figures["clap_bare_clips_per_s"]["value"]
    assert ratio["value"] == pytest.approx(e2e / bare)
    assert ratio["goal"] == "≥ 0.9" and ratio["met"] is (ratio["value"] >= 0.9)


def test_gpu_usage_figures_are_what_nvidia_smi_answered(tmp_path: Path):
    fake = tmp_path / "nvidia-smi"  # index, uuid, utilisation %, memory used MiB; GPU 1 is not ours
    fake.write_text("#!/bin/sh\necho '0, GPU-a, 40, 1000'\necho '1, GPU-b, 99, 9999'\n")
    fake.chmod(0o755)
    sampler = GpuSampler(visible=["0"], command=str(fake))
    sampler.sample()
    fake.write_text("#!/bin/sh\necho '0, GPU-a, 60, 3000'\n")
    sampler.sample()
    report = Report(device={})
    usage_figures(report, sampler, "a test")
    values = {name: f.value for name, f in report.figures.items()}
    assert values == {"gpu_util_avg_pct": 50.0, "gpu_util_max_pct": 60.0, "gpu_mem_peak_mib": 3000.0}
    assert "(2 samples)" in report.figures["gpu_util_avg_pct"].how

    for sampler_or_reason, reason in (
        (GpuSampler(visible=["7"], command=str(fake)), "nvidia-smi answered no sample of this GPU"),
        (NO_GPU, NO_GPU),
    ):
        if isinstance(sampler_or_reason, GpuSampler):
            sampler_or_reason.sample()
        report = Report(device={})
        usage_figures(report, sampler_or_reason, "a test")
        assert {(f.value, f.reason) for f in report.figures.values()} == {(None, reason)}


def test_a_figure_is_a_finite_measurement_or_null_with_a_reason():
    report = Report(device={})
    with pytest.raises(ValueError, match="not a finite number"):
        report.add("x", math.nan, "clips/s", "a test")
    report.add("x", 2.0, "ratio", "a test", at_least=0.9)
    with pytest.raises(ValueError, match="recorded twice"):
        report.missing("x", "ratio", "a test", "no GPU")
    assert (report.figures["x"].goal, report.figures["x"].met) == ("≥ 0.9", True)
