"""Sensor tick cost on big landing folders: the landing sensor as the daemon runs it.

    python -m sec_assets.benchmarks.sensor_tick [--layout 1000x10] [--layout 100x10000] [--dir DIR]

Builds each layout (classes × files, tiny files) under a temporary folder (or ``--dir``), then
times ``landing_folder_sensor`` through ``build_sensor_context`` against a real (temporary)
Dagster instance: the first tick (every folder listed, every partition added), the tick that
confirms them settled (every class requested), quiet ticks (the median of 10, with the rolling
check of ``sensor_full_check_ticks`` at its default, so about a tenth of the folders re-read),
and a tick after one new file in each of 5 classes. For reference, the previous sensor's cost:
``stat`` of every file of every class (what it did on every tick). Prints seconds and the
tick's stats (folders stat'ed, folders listed, files stat'ed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance, SensorResult, build_sensor_context

from sec_assets.core.settings import load_settings
from sec_assets.defs.sensors.landing import landing_folder_sensor
from sec_assets.resources import SecResource


def build(root: Path, classes: int, files: int) -> None:
    for c in range(classes):
        folder = root / f"class_{c:05d}"
        folder.mkdir(parents=True)
        for f in range(files):
            fd = os.open(folder / f"rec_{f:06d}.wav", os.O_CREAT | os.O_WRONLY, 0o644)
            os.write(fd, b"x")
            os.close(fd)


def stat_everything(root: Path) -> float:
    started = time.perf_counter()
    for folder in root.iterdir():
        for entry in os.scandir(folder):
            entry.stat()
    return time.perf_counter() - started


def tick(instance, sec, cursor):
    started = time.perf_counter()
    result = landing_folder_sensor(
        build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor)
    )
    seconds = time.perf_counter() - started
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result, seconds


def run(layout: str, base: Path) -> None:
    classes, files = (int(x) for x in layout.split("x"))
    root = base / f"landing_{layout}"
    t0 = time.perf_counter()
    build(root, classes, files)
    built = time.perf_counter() - t0
    home = base / f"home_{layout}"
    settings = load_settings(env={}, home=home, audio_root=root)
    sec = SecResource.from_settings(settings)
    with DagsterInstance.ephemeral() as instance:
        first, t_first = tick(instance, sec, None)
        second, t_second = tick(instance, sec, first.cursor)
        assert len(second.run_requests) == classes, len(second.run_requests)
        cursor = second.cursor
        quiet = []
        for _ in range(10):
            result, seconds = tick(instance, sec, cursor)
            assert not result.run_requests
            quiet.append(seconds)
            cursor = result.cursor
        for c in range(5):
            (root / f"class_{c:05d}" / "new.wav").write_bytes(b"n")
        _, t_new = tick(instance, sec, cursor)
        settled, t_settled = tick(instance, sec, _.cursor)
        assert len(settled.run_requests) == 5
        skip = result.skip_reason.skip_message if result.skip_reason else ""
    reference = stat_everything(root)
    print(f"## {classes} classes × {files} files ({classes * files:,} files; built in {built:.0f} s)")
    print(f"first tick (lists everything, adds {classes} partitions): {t_first:.2f} s")
    print(f"second tick (confirms, requests {classes} class runs): {t_second:.2f} s")
    print(
        f"quiet tick, median of 10: {statistics.median(quiet):.3f} s (max {max(quiet):.3f} s); last: {skip}"
    )
    print(f"5 classes get a file: that tick {t_new:.3f} s, the settling tick {t_settled:.3f} s (5 runs)")
    print(f"reference, stat of every file (the previous sensor, every tick): {reference:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", action="append", help="CLASSESxFILES; default 1000x10 and 100x10000")
    ap.add_argument("--dir", type=Path, default=None, help="where to build the trees (default: a temp dir)")
    args = ap.parse_args()
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="sec-bench-dagster-"))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for layout in args.layout or ["1000x10", "100x10000"]:
            run(layout, Path(tmp))


if __name__ == "__main__":
    main()
