"""Scale figures: 1,000 classes × 5 octaves (5,000 multi-partitions) and a 1,000,000-segment catalog.

    python -m sec_assets.benchmarks.scale [--classes 1000] [--segments 1000000] [--workdir DIR]

Synthetic on purpose (these 2 cores cannot run a million segments through CLAP): the landing
folder gets one tiny WAV per class; the catalog's tables are written with the product's own
writer (``catalog.write_table_partition``: one folder per partition, 64-row shards as the steps
write them, lineage rows per partition) with realistic keys and column values, except that the
segments' float16 ``audio`` is 16 samples (the views exclude it; real segments hold 7 s) and the
spectrograms' levels are one frame. Measured, each as the user meets it:

- definitions load time (``import sec_assets.definitions`` in a fresh interpreter);
- ``sec-assets scan`` registering every class (fresh interpreter, empty instance), then again;
- one ``landing_folder_sensor`` tick (first, then quiet) against the instance;
- the README's two catalog queries and a per-class count, through ``sec-assets catalog``'s
  ``catalog.query`` (median of 3, the first run reported too);
- the asset page's partition status from ``dagster-webserver``'s GraphQL endpoint
  (``octave_spectrograms``: 5,000 partitions).

Goals (issue 15): load < 5 s, tick < 10 s, each catalog query < 1 s.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import soundfile as sf

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SHARD = 64
OCTAVES = (1, 3, 6, 12, 24)
SPLITS = ("train", "train", "train", "train", "train", "train", "es", "valid", "valid", "test")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def write_landing(root: Path, classes: list[str]) -> None:
    tone = (0.1 * np.sin(np.arange(1600) / 3)).astype(np.float32)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        sf.write(root / name / "a.wav", tone, 16000)


def _complete(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The frame with the table's other columns as nulls (the writer casts and orders them)."""
    from sec_assets.core.store.schemas import TABLE_SCHEMAS

    missing = [c for c in TABLE_SCHEMAS[table] if c not in frame.columns]
    return frame.with_columns(pl.lit(None, dtype=TABLE_SCHEMAS[table][c]).alias(c) for c in missing)


def _shards(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for start in range(0, max(frame.height, 1), SHARD):
        yield frame.slice(start, SHARD)


def write_catalog(home: Path, classes: list[str], segments: int, files_per_class: int) -> dict[str, int]:
    """Every table a full materialization writes, at this size; returns rows per table."""
    from sec_assets.core.store import catalog

    per_class = segments // len(classes)
    counts = {"audio_files": 0, "segments": 0, "splits": 0, "spectrograms": 0, "lineage": 0}
    audio = np.zeros(16, dtype=np.float16).tobytes()

    def lineage(asset: str, key: str, rows: int) -> None:
        catalog.record_lineage(
            home,
            asset=asset,
            partition_key=key,
            run_id="bench",
            code_version="bench",
            params={},
            inputs=[],
            output_fingerprint="0" * 64,
            rows=rows,
        )
        counts["lineage"] += 1

    for ci, key in enumerate(classes):
        shas = [f"{ci:05d}{f:05d}".ljust(64, "0") for f in range(files_per_class)]
        paths = [f"/landing/{key}/rec_{f:05d}.flac" for f in range(files_per_class)]
        manifest = pl.DataFrame(
            {
                "audio_class": key,
                "partition_key": key,
                "path": paths,
                "relative_path": [Path(p).name for p in paths],
                "format": "flac",
                "sample_rate": 48000,
                "channels": 1,
                "frames": 48000 * 70,
                "duration_s": 70.0,
                "sha256": shas,
                "size_bytes": 4_000_000,
                "peak": 0.5,
                "status": "ok",
                "repair_zero": False,
                "repair_scale": 1.0,
                "repair_clip": False,
            }
        )
        manifest = _complete(manifest, "raw_manifest")
        catalog.write_table_partition(home, "raw_manifest", {"audio_class": key}, manifest)
        lineage("raw_manifest", key, manifest.height)
        file_split = [SPLITS[(ci + f) % len(SPLITS)] for f in range(files_per_class)]
        splits = pl.DataFrame({"partition_key": key, "source_sha256": shas, "split": file_split})
        catalog.write_table_partition(home, "splits", {"audio_class": key}, splits)
        lineage("splits", key, splits.height)
        index = np.arange(per_class)
        source = index % files_per_class
        segs = pl.DataFrame(
            {
                "segment_key": [f"{key}:{shas[s][:20]}:0:{i}" for i, s in zip(index, source, strict=True)],
                "audio_class": key,
                "partition_key": key,
                "source_sha256": [shas[s] for s in source],
                "source_path": [paths[s] for s in source],
                "round": 0,
                "index": index // files_per_class,
                "start_s": (index // files_per_class) * 7.0,
                "duration_s": 7.0,
                "padded": False,
                "sample_rate": 44100,
                "seed": index.astype(np.uint64),
                "gain_db": 0.0,
                "shift_frames": 0,
                "noise_gain": 0.3,
                "noise_rms": 0.01,
                "split": [file_split[s] for s in source],
                "augmented": False,
                "audio": [audio] * per_class,
            }
        )
        segs = _complete(segs, "augmented_segments")
        catalog.write_table_partition(home, "augmented_segments", {"audio_class": key}, _shards(segs))
        lineage("augmented_segments", key, segs.height)
        for n in OCTAVES:
            spectra = segs.select("segment_key", "partition_key", "source_sha256").with_columns(
                octave=pl.lit(n),
                n_frames=pl.lit(1),
                n_bands=pl.lit(n * 10),
                center_hz=pl.lit([1000.0]),
                levels_db=pl.lit([-30.0]),
            )
            dims = {"audio_class": key, "octave": str(n)}
            catalog.write_table_partition(home, "octave_spectrograms", dims, _shards(spectra))
            lineage("octave_spectrograms", f"{key}|{n}", spectra.height)
            counts["spectrograms"] += spectra.height
        counts["audio_files"] += manifest.height
        counts["segments"] += segs.height
        counts["splits"] += splits.height
    for n in OCTAVES:
        models = pl.DataFrame(
            {
                "octave": [n],
                "candidate": ["clap/linear-bench"],
                "feature_set": ["clap"],
                "head": ["linear"],
                "selected": [True],
                "model_sha256": [f"model{n}".ljust(64, "0")],
                "classes": [classes],
            }
        )
        catalog.write_table_partition(
            home, "trained_classifier", {"octave": str(n)}, _complete(models, "trained_classifier")
        )
        lineage("trained_classifier", str(n), 1)
    return counts


def report_materializations(classes: list[str]) -> int:
    """One materialization per asset partition, as a full backfill leaves them (the UI's status)."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    from sec_assets.core.settings import load_settings
    from sec_assets.instance import ensure_dagster_home
    from sec_assets.partitions import AUDIO_CLASS, class_octave_key

    ensure_dagster_home(load_settings())
    count = 0
    with DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(AUDIO_CLASS))
        instance.add_dynamic_partitions(AUDIO_CLASS, [c for c in classes if c not in known])
        for key in classes:
            for asset in ("raw_manifest", "splits", "augmented_segments", "clap_embeddings"):
                instance.report_runless_asset_event(AssetMaterialization(AssetKey(asset), partition=key))
                count += 1
            for n in OCTAVES:
                partition = str(class_octave_key(key, n))
                instance.report_runless_asset_event(
                    AssetMaterialization(AssetKey("octave_spectrograms"), partition=partition)
                )
                count += 1
    return count


README_QUERIES = {
    "files that fed model X (README)": """
        SELECT DISTINCT a.audio_class, a.path, a.sha256
        FROM models m
        JOIN splits s ON list_contains(m.classes, s.partition_key) AND s.split IN ('train', 'es')
        JOIN audio_files a ON a.sha256 = s.source_sha256
        WHERE m.octave = 3 ORDER BY 1, 2""",
    "segments of file Y (README)": """
        SELECT s.segment_key, s.start_s, s.duration_s, s.padded, s.seed, s.noise_gain
        FROM segments s JOIN audio_files a ON a.sha256 = s.source_sha256
        WHERE a.path LIKE '%/c0500/rec_00007.flac' ORDER BY s.index""",
    "segments per class": "SELECT partition_key, count(*) AS n FROM segments GROUP BY 1 ORDER BY 1",
    "spectrogram rows per octave": "SELECT octave, count(*) AS n FROM spectrograms GROUP BY 1 ORDER BY 1",
    "lineage of one partition": (
        "SELECT * FROM lineage WHERE asset = 'octave_spectrograms' AND partition_key = 'c0500|3'"
    ),
}


def _fetch(request: urllib.request.Request) -> bytes:
    with urllib.request.urlopen(request, timeout=300) as response:
        return bytes(response.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def graphql_asset_page(env: dict[str, str]) -> tuple[float, float, str]:
    """Start dagster-webserver; time the asset page's partition query twice (cold, warm)."""
    port = _free_port()
    log = open(Path(env["DAGSTER_HOME"]) / "webserver.log", "w")  # noqa: SIM115 -- the server's lifetime
    server = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-m", "sec_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    query = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
        partitionKeysByDimension { name partitionKeys }
        partitionStats { numMaterialized numPartitions numFailed }
        assetPartitionStatuses { __typename }
    } } }"""
    body = json.dumps({"query": query, "variables": {"key": {"path": ["octave_spectrograms"]}}}).encode()
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        times, answer = [], ""
        for _ in range(2):
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            seconds, raw = timed(functools.partial(_fetch, request))
            times.append(seconds)
            data = json.loads(raw)["data"]["assetNodeOrError"]
            dims = {d["name"]: len(d["partitionKeys"]) for d in data["partitionKeysByDimension"]}
            answer = f"{dims}, stats {data['partitionStats']}"
        return times[0], times[1], answer
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--files-per-class", type=int, default=100)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, removed after")
    parser.add_argument("--skip-webserver", action="store_true")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sec-scale-bench-"))
    home, landing, dagster_home = work / "home", work / "landing", work / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "SEC_HOME": str(home),
        "SEC_AUDIO_ROOT": str(landing),
        "DAGSTER_HOME": str(dagster_home),
        "SEC_OCTAVES": ",".join(map(str, OCTAVES)),
    }
    os.environ.update({k: env[k] for k in ("SEC_HOME", "SEC_AUDIO_ROOT", "DAGSTER_HOME", "SEC_OCTAVES")})
    classes = [f"c{i:04d}" for i in range(args.classes)]
    rows: list[tuple[str, str, str]] = []
    try:
        seconds, _ = timed(lambda: write_landing(landing, classes))
        print(f"landing: {len(classes)} class folders in {seconds:.1f} s", flush=True)
        seconds, counts = timed(lambda: write_catalog(home, classes, args.segments, args.files_per_class))
        print(f"catalog written in {seconds:.0f} s: {counts}", flush=True)

        load = [
            timed(
                lambda: subprocess.run(
                    [sys.executable, "-c", "import sec_assets.definitions"], env=env, check=True
                )
            )[0]
            for _ in range(3)
        ]
        rows.append(
            ("definitions load (fresh interpreter, median of 3)", f"{statistics.median(load):.2f} s", "< 5 s")
        )
        scan = [
            timed(
                lambda: subprocess.run(
                    [str(BIN / "sec-assets"), "scan"], env=env, check=True, capture_output=True
                )
            )[0]
            for _ in range(2)
        ]
        rows.append((f"sec-assets scan, {len(classes)} new classes", f"{scan[0]:.2f} s", ""))
        rows.append(("sec-assets scan, nothing new", f"{scan[1]:.2f} s", ""))

        seconds, events = timed(lambda: report_materializations(classes))
        print(f"{events} materializations recorded in the instance in {seconds:.0f} s", flush=True)
        from dagster import DagsterInstance, build_sensor_context

        from sec_assets.core.store.catalog import query
        from sec_assets.defs.sensors.landing import landing_folder_sensor
        from sec_assets.resources import SecResource

        with DagsterInstance.get() as instance:
            sec = SecResource.from_settings()
            cursor = None
            ticks = []
            for _ in range(4):
                context = build_sensor_context(instance=instance, cursor=cursor, resources={"sec": sec})
                seconds, result = timed(functools.partial(landing_folder_sensor, context))
                cursor = result.cursor
                ticks.append(seconds)
            rows.append(
                (
                    "landing sensor tick: first / settle / quiet / quiet",
                    " / ".join(f"{t:.2f}" for t in ticks) + " s",
                    "< 10 s",
                )
            )

        for label, sql in README_QUERIES.items():
            times = []
            for _ in range(4):
                seconds, frame = timed(functools.partial(query, home, sql))
                times.append(seconds)
            rows.append(
                (
                    f"catalog: {label} ({frame.height} rows)",
                    f"{times[0]:.2f} s first, {statistics.median(times[1:]):.2f} s median",
                    "< 1 s",
                )
            )
        if not args.skip_webserver:
            cold, warm, answer = graphql_asset_page(env)
            rows.append(
                (
                    f"webserver GraphQL, octave_spectrograms asset page ({answer})",
                    f"{cold:.2f} s cold, {warm:.2f} s warm",
                    "",
                )
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(classes)} classes × {len(OCTAVES)} octaves, {args.segments:,} segments")
    print("| what | measured | goal |\n|---|---|---|")
    for label, value, goal in rows:
        print(f"| {label} | {value} | {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
