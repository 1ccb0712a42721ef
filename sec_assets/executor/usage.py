"""What a job used: CPU efficiency and node-hours from sacct, GPU utilisation sampled on the node.

On the node, :class:`GpuSampler` (started by the job wrapper when ``nvidia-smi`` is on PATH and
the job was given GPUs) asks ``nvidia-smi`` every few seconds for the utilisation and memory of
the job's GPUs, and at the end prints one line to the job's stderr::

    sec_assets: gpu usage {"samples": 12, "util_avg": 71.5, "util_max": 99.0, "mem_peak_mb": 20480.0}

The orchestrator reads it back from the log (:func:`gpu_usage`) with sacct's figures
(:func:`job_usage`), so no extra file or channel is needed and the line stays readable in the log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

GPU_LINE = "sec_assets: gpu usage "
GPU_QUERY = ["--query-gpu=index,uuid,utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
GPU_SAMPLE_S = 5.0


def slurm_seconds(text: str) -> float | None:
    """sacct durations — ``[DD-][HH:]MM:SS[.mmm]`` (``TotalCPU``, ``Elapsed``) — in seconds."""
    match = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def job_usage(info: Mapping[str, str]) -> dict[str, float]:
    """CPU efficiency (TotalCPU / (Elapsed × AllocCPUS)), node-hours and CPU-hours of a job from
    its sacct row; figures sacct did not give are left out."""
    out: dict[str, float] = {}
    elapsed = float(info["ElapsedRaw"]) if info.get("ElapsedRaw", "").isdigit() else None
    cpus = int(info["AllocCPUS"]) if info.get("AllocCPUS", "").isdigit() else None
    nodes = int(info["NNodes"]) if info.get("NNodes", "").isdigit() else 1
    total_cpu = slurm_seconds(info.get("TotalCPU", ""))
    if elapsed is not None:
        out["elapsed_s"] = elapsed
        out["node_hours"] = round(elapsed * nodes / 3600, 6)
        if cpus:
            out["cpu_hours"] = round(elapsed * cpus / 3600, 6)
            if total_cpu is not None and elapsed > 0:
                out["cpu_efficiency"] = round(total_cpu / (elapsed * cpus), 4)
    return out


def gpu_usage(log_text: str) -> dict[str, float]:
    """The last ``gpu usage`` line of a job's stderr as figures (empty: no GPU was sampled)."""
    for line in reversed(log_text.splitlines()):
        if line.startswith(GPU_LINE):
            try:
                values = json.loads(line[len(GPU_LINE) :])
            except json.JSONDecodeError:
                return {}
            return {f"gpu_{k}": float(v) for k, v in values.items() if isinstance(v, int | float)}
    return {}


def run_summary(jobs: list[tuple[str, Mapping[str, object]]]) -> tuple[str, float, str] | None:
    """A run's node-hours per step (asset) from its jobs' post-job figures: the message, the total
    and a Markdown table for one run-level engine event (None when no job had sacct figures)."""
    by_step: dict[str, dict[str, float]] = {}
    for step, meta in jobs:
        hours = meta.get("node_hours")
        if not isinstance(hours, int | float):
            continue
        row = by_step.setdefault(step, {"jobs": 0, "node_hours": 0.0, "cpu_s": 0.0, "alloc_cpu_s": 0.0})
        row["jobs"] += 1
        row["node_hours"] += float(hours)
        eff, cpu_h = meta.get("cpu_efficiency"), meta.get("cpu_hours")
        if isinstance(eff, int | float) and isinstance(cpu_h, int | float):
            row["cpu_s"] += float(eff) * float(cpu_h) * 3600
            row["alloc_cpu_s"] += float(cpu_h) * 3600
    if not by_step:
        return None
    total = sum(r["node_hours"] for r in by_step.values())
    lines = ["| step | jobs | node-hours | CPU efficiency |", "|---|---|---|---|"]
    for step, r in sorted(by_step.items(), key=lambda kv: -kv[1]["node_hours"]):
        eff = f"{r['cpu_s'] / r['alloc_cpu_s']:.0%}" if r["alloc_cpu_s"] else "?"
        lines.append(f"| {step} | {int(r['jobs'])} | {r['node_hours']:.4f} | {eff} |")
    parts = ", ".join(f"{step} {r['node_hours']:.4f}" for step, r in sorted(by_step.items()))
    message = f"Slurm usage of this run: {total:.4f} node-hours ({parts})"
    return message, round(total, 6), "\n".join(lines)


@dataclass
class GpuSampler:
    """Samples the job's GPUs (``CUDA_VISIBLE_DEVICES``: indices or UUIDs) with ``nvidia-smi``."""

    visible: list[str]
    command: str
    interval_s: float = GPU_SAMPLE_S
    utils: list[float] = field(default_factory=list)
    mem_peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def for_this_job(cls, environ: Mapping[str, str] | None = None) -> GpuSampler | None:
        env = os.environ if environ is None else environ
        visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
        command = shutil.which("nvidia-smi", path=env.get("PATH"))
        if not visible or command is None:
            return None
        return cls(visible=[d.strip() for d in visible], command=command)

    def sample(self) -> None:
        done = subprocess.run(
            [self.command, *GPU_QUERY], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            return
        per_sample = []
        for line in done.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 4 or (parts[0] not in self.visible and parts[1] not in self.visible):
                continue
            try:
                util, mem = float(parts[2]), float(parts[3])
            except ValueError:  # "[N/A]" on some boards
                continue
            per_sample.append(util)
            self.mem_peak_mb = max(self.mem_peak_mb, mem)
        if per_sample:
            self.utils.append(sum(per_sample) / len(per_sample))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def start(self) -> GpuSampler:
        self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self.summary()

    def summary(self) -> dict[str, float]:
        if not self.utils:
            return {"samples": 0}
        return {
            "samples": len(self.utils),
            "util_avg": round(sum(self.utils) / len(self.utils), 1),
            "util_max": max(self.utils),
            "mem_peak_mb": self.mem_peak_mb,
        }

    def line(self) -> str:
        return GPU_LINE + json.dumps(self.summary(), sort_keys=True)
