"""The GPU check's report: named figures with unit and goal, or null with the reason, as JSON and
Markdown; the device it ran on; the CUDA tests' outcome read from pytest's JUnit XML."""

from __future__ import annotations

import json
import math
import os
import platform
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "sec-gpu-check/1"


@dataclass(frozen=True)
class Figure:
    value: float | None
    unit: str
    how: str
    reason: str | None = None  # why value is None
    goal: str | None = None  # e.g. "≥ 0.9"
    met: bool | None = None


@dataclass
class Report:
    device: dict[str, Any]
    figures: dict[str, Figure] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, how: str, at_least: float | None = None) -> None:
        """A measured figure; ``at_least``: its goal (met or not is recorded beside it)."""
        if not math.isfinite(value):
            raise ValueError(f"{name}: measured {value}, not a finite number")
        if name in self.figures:
            raise ValueError(f"{name}: recorded twice")
        goal = None if at_least is None else f"≥ {at_least:g}"
        met = None if at_least is None else bool(value >= at_least)
        self.figures[name] = Figure(float(value), unit, how, None, goal, met)

    def missing(self, name: str, unit: str, how: str, reason: str) -> None:
        """A figure this run could not measure: null, with the reason (never an estimate)."""
        if name in self.figures:
            raise ValueError(f"{name}: recorded twice")
        self.figures[name] = Figure(None, unit, how, reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            **self.device,
            **self.info,
            "figures": {k: asdict(v) for k, v in self.figures.items()},
        }

    def as_markdown(self) -> str:
        d = self.device
        lines = [
            f"# GPU check on {d['device']}: {d['device_name']}, torch {d['torch']}",
            "",
            f"CUDA runtime {d['torch_cuda'] or '–'}; GPU memory {d['gpu_memory_gib'] or '–'} GiB; "
            f"{d['cpu_count']} CPUs; torch from {self.info.get('torch_source') or '?'}",
        ]
        tests = self.info.get("cuda_tests")
        if isinstance(tests, dict):
            counts = ", ".join(f"{tests[k]} {k}" for k in ("passed", "failed", "errors", "skipped"))
            lines.append(f"CUDA tests (`pytest -m cuda sec_assets_tests/cuda`): {counts}")
        lines += ["", "| figure | value | unit | goal | how / why not |", "|---|---|---|---|---|"]
        for name, f in self.figures.items():
            if f.value is None:
                value, note = "null", f"not measured: {f.reason}"
            else:
                value, note = f"{f.value:.4g}", f.how
            goal = f"{f.goal} ({'met' if f.met else 'missed'})" if f.goal else ""
            lines.append(f"| {name} | {value} | {f.unit} | {goal} | {note} |")
        return "\n".join(lines) + "\n"

    def write(self, out: Path) -> tuple[Path, Path]:
        out.mkdir(parents=True, exist_ok=True)
        paths = out / "gpu.json", out / "gpu.md"
        paths[0].write_text(json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n")
        paths[1].write_text(self.as_markdown())
        return paths


def device_info(device: str) -> dict[str, Any]:
    """What the figures were measured on (GPU fields null on the CPU)."""
    import torch

    gpu = device.startswith("cuda")
    props = torch.cuda.get_device_properties(torch.device(device)) if gpu else None
    return {
        "device": device,
        "device_name": props.name if props else f"cpu ({platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda if gpu else None,
        "gpu_memory_gib": round(props.total_memory / 2**30, 1) if props else None,
        "cpu_count": len(os.sched_getaffinity(0)),
    }


def junit_counts(path: Path) -> dict[str, int] | str:
    """tests / passed / failed / errors / skipped of a pytest ``--junitxml`` file (or why not)."""
    if not path.is_file():
        return f"no JUnit file at {path}"
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        return f"unreadable JUnit file {path}: {exc}"
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    return {
        "tests": counts["tests"],
        "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"],
        "failed": counts["failures"],
        "errors": counts["errors"],
        "skipped": counts["skipped"],
    }
