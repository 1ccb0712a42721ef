"""Job usage: sacct durations and efficiency, the GPU sampler against a stand-in nvidia-smi (a
script printing nvidia-smi's CSV answers), and the line the executor reads back from the log."""

from __future__ import annotations

import sys

import pytest

from sec_assets.executor.usage import GPU_LINE, GpuSampler, gpu_usage, job_usage, run_summary, slurm_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:05.600", 5.6),
        ("01:02:03", 3723.0),
        ("2-00:00:01", 172801.0),
        ("12:30", 750.0),
        ("", None),
        ("x", None),
    ],
)
def test_slurm_durations(text, seconds):
    assert slurm_seconds(text) == seconds


def test_cpu_efficiency_and_node_hours_from_a_sacct_row():
    row = {"ElapsedRaw": "3600", "AllocCPUS": "4", "NNodes": "2", "TotalCPU": "03:00:00"}
    assert job_usage(row) == {
        "elapsed_s": 3600.0,
        "node_hours": 2.0,
        "cpu_hours": 4.0,
        "cpu_efficiency": 0.75,
    }
    assert job_usage({"ElapsedRaw": "", "AllocCPUS": "4"}) == {}  # still pending: nothing made up
    assert job_usage({"ElapsedRaw": "0", "AllocCPUS": "1", "TotalCPU": "00:00"}) == {
        "elapsed_s": 0.0,
        "node_hours": 0.0,
        "cpu_hours": 0.0,
    }


FAKE_SMI = """#!{python}
import sys, pathlib
count = pathlib.Path({counter!r})
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
assert sys.argv[1:] == ["--query-gpu=index,uuid,utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
util = [40, 90, 100][min(n, 2)]
print(f"0, GPU-aaa, {{util}}, {{1000 + 500 * n}}")
print("1, GPU-bbb, 7, 99999")  # not this job's GPU
print("2, GPU-ccc, [N/A], [N/A]")
"""


def test_the_sampler_reads_only_the_jobs_gpus(tmp_path):
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(FAKE_SMI.format(python=sys.executable, counter=str(tmp_path / "n")))
    smi.chmod(0o755)
    env = {"CUDA_VISIBLE_DEVICES": "0,2", "PATH": str(smi.parent)}
    sampler = GpuSampler.for_this_job(env)
    assert sampler is not None and sampler.visible == ["0", "2"]
    for _ in range(3):
        sampler.sample()
    assert sampler.summary() == {"samples": 3, "util_avg": 76.7, "util_max": 100.0, "mem_peak_mb": 2000.0}
    line = sampler.line()
    assert line.startswith(GPU_LINE)
    log = f"STEP_START\n{line}\nsubmitit INFO Job completed successfully\n"
    assert gpu_usage(log) == {
        "gpu_samples": 3.0,
        "gpu_util_avg": 76.7,
        "gpu_util_max": 100.0,
        "gpu_mem_peak_mb": 2000.0,
    }
    by_uuid = GpuSampler.for_this_job({"CUDA_VISIBLE_DEVICES": "GPU-aaa", "PATH": str(smi.parent)})
    assert by_uuid is not None
    by_uuid.start()
    assert by_uuid.stop()["samples"] >= 1  # the thread samples at once, then every interval
    assert GpuSampler.for_this_job({"PATH": str(smi.parent)}) is None  # the job has no GPU
    assert (
        GpuSampler.for_this_job({"CUDA_VISIBLE_DEVICES": "0", "PATH": str(tmp_path)}) is None
    )  # no nvidia-smi
    assert gpu_usage("no such line\n") == {}


def test_a_runs_node_hours_per_step():
    jobs = [
        ("clap_embeddings", {"node_hours": 0.5, "cpu_hours": 2.0, "cpu_efficiency": 0.25}),
        ("raw_manifest", {"node_hours": 0.1, "cpu_hours": 0.1, "cpu_efficiency": 0.9}),
        ("clap_embeddings", {"node_hours": 0.5, "cpu_hours": 2.0, "cpu_efficiency": 0.75}),  # its retry
        ("local_step", {"submitit_job_id": "7"}),  # no sacct figures
    ]
    summary = run_summary(jobs)
    assert summary is not None
    message, total, table = summary
    assert (
        total == 1.1
        and message
        == "Slurm usage of this run: 1.1000 node-hours (clap_embeddings 1.0000, raw_manifest 0.1000)"
    )
    assert table.splitlines()[2:] == [
        "| clap_embeddings | 2 | 1.0000 | 50% |",
        "| raw_manifest | 1 | 0.1000 | 90% |",
    ]
    assert run_summary([("x", {"state": "COMPLETED"})]) is None
