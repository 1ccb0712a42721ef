"""Inference stage: ``inbox_predictions`` labels the recordings of the inbox with each octave's
``champion`` from the registry — windows, features and scores through the training code path."""

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from sec_assets.core.audio.segments import SourceFile
from sec_assets.core.devices import resolve_device, use_threads
from sec_assets.core.features import clap, clap_store
from sec_assets.core.hashing import file_sha256
from sec_assets.core.inference import inbox
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion, label_recordings
from sec_assets.core.inference.tables import raven_table, result_csv
from sec_assets.core.inference.windows import WindowParams, grade
from sec_assets.core.landing.scan import ROOT, listing
from sec_assets.core.progress import Progress
from sec_assets.core.store import catalog, schemas, storage
from sec_assets.core.tracking.gate import CHAMPION
from sec_assets.core.tracking.registry import registered_name, version_by_alias
from sec_assets.core.tracking.store import tracking
from sec_assets.defs._shared import ALL, asset_boundary, md_table, registered_classes, requests
from sec_assets.defs.evaluation import class_names
from sec_assets.defs.features import _loaded_clap
from sec_assets.resources import SecResource

GROUP = "inference"
ASSET = "inbox_predictions"


class InboxConfig(Config):
    """Which part of the inbox a run labels (the inbox sensor's run requests fill it in)."""

    whole_inbox: bool = Field(True, description="label every recording of the inbox")
    folders: dict[str, str] = Field(
        default_factory=dict,
        description="when not whole_inbox: folders (relative to the inbox, '.' for its top) → the "
        "listing fingerprint the sensor saw settled; a folder whose listing changed since is left "
        "for the next tick",
    )


@asset(
    deps=[AssetDep("evaluation_report", partition_mapping=ALL)],
    code_version="2",
    group_name=GROUP,
    op_tags=requests(gpus=1),  # CLAP on the windows, as clap_embeddings
    description="Every recording of the inbox (SEC_INBOX) labelled by the champion of each octave "
    "resolution (the registry's `champion` alias): windows cut, resampled and featurized by the "
    "training code path, top-k labels above min_confidence per window as CSV and Raven selection "
    "tables under predictions/, the catalog view `predictions` (the inbox's recordings, no others), "
    "and a combined table. Resumable: a recording already done with the same champions and "
    "settings is skipped. The `inbox_sensor` runs it for folders that settled.",
    kinds={"torch", "mlflow", "parquet"},
)
@asset_boundary
def inbox_predictions(
    context: AssetExecutionContext, sec: SecResource, config: InboxConfig
) -> MaterializeResult:
    cfg = sec.settings
    home, folder = sec.home_path, cfg.inbox_path
    if not folder.is_dir():
        raise Failure(
            f"no inbox folder {folder} (setting inbox, SEC_INBOX): create it and drop recordings in"
        )
    champions = _champions(context, sec)
    featurizer = _featurizer(sec, champions)
    keys = registered_classes(context)
    names = dict(zip(keys, class_names(home, keys), strict=True))
    window = WindowParams(cfg.window_seconds, cfg.window_hop_seconds, cfg.min_window_seconds)
    params = window.segment_params(cfg.segment_params())
    key = inbox.run_key(
        {
            "models": [(c.name, c.version) for c in champions],
            "window": [window.window_seconds, window.hop_seconds, window.min_window_seconds],
            "top_k": cfg.top_k,
            "min_confidence": cfg.min_confidence,
            "rate": params.sample_rate,
        }
    )
    out = home / "predictions"
    paths = list(inbox.recordings(folder))
    chosen = None if config.whole_inbox else _confirmed(context, folder, config.folders)
    known = inbox.known(out)
    by_path: dict[str, list[str]] = {}
    for (p, _, _), hit in known.items():
        by_path.setdefault(p, []).append(hit.sha256)
    counts = {"recordings": len(paths), "labelled": 0, "skipped_done": 0, "duplicates": 0, "failed": 0}
    counts |= {"waiting": 0, "windows": 0, "removed": 0}
    failures: list[dict[str, Any]] = []
    present: dict[str, str] = {}  # sha256 → path of the inbox's recordings with labels
    stats: dict[str, tuple[int, int]] = {}  # sha256 → (size, mtime_ns) when hashed
    audio_s: dict[str, float] = {}

    def todo() -> Iterator[SourceFile]:
        """Recordings to label, graded on the pipeline's producer thread."""
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            hit = known.get((str(path), st.st_size, st.st_mtime_ns))
            wanted = chosen is None or path.parent in chosen
            if hit is not None and (hit.run_key == key or not wanted):
                present.setdefault(hit.sha256, str(path))
                counts["skipped_done"] += 1
                continue
            if not wanted:  # in a folder not settled: its labels so far are kept
                counts["waiting"] += 1
                present.update({sha: str(path) for sha in by_path.get(str(path), [])})
                continue
            source, row = grade(path, folder, cfg.file_policy())
            if source is None:
                counts["failed"] += 1
                failures.append(
                    {
                        "source_sha256": row["sha256"],
                        "segment_key": None,
                        "path": str(path),
                        "reason": row["error"],
                    }
                )
                continue
            if source.sha256 in present or source.sha256 in stats:
                counts["duplicates"] += 1  # the same content at another path: labelled once
                continue
            stats[source.sha256] = (st.st_size, st.st_mtime_ns)
            audio_s[source.sha256] = row["duration_s"] or 0.0
            if inbox.is_done(out, source.sha256, key):  # touched, not changed: remember the new stat
                _mark(out, source.sha256, key, path, stats[source.sha256], None)
                present[source.sha256] = str(path)
                counts["skipped_done"] += 1
                continue
            yield source

    started = time.perf_counter()
    line = Progress("inbox:", len(paths), "recordings", context.log.info)
    labelled_s = 0.0
    batch = cfg.inference_batch_windows
    for done in label_recordings(
        todo(), params, featurizer, champions, names, cfg.top_k, cfg.min_confidence, batch=batch
    ):
        source, path = done.source, Path(done.source.path)
        rel = path.relative_to(folder)
        for champion in champions:
            part = done.rows.filter(pl.col("octave") == champion.octave)
            stem = out / rel.parent / f"{rel.name}.oct{champion.octave}"
            storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".csv"), result_csv(part).encode())
            raven = raven_table(part, 0.0, params.sample_rate / 2)
            storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".selection.table.txt"), raven.encode())
        catalog.write_table_partition(home, ASSET, {"recording": source.sha256}, done.rows)
        _mark(out, source.sha256, key, path, stats[source.sha256], done.windows)
        present[source.sha256] = str(path)
        failures += [{**f, "path": str(path)} for f in done.failures]
        counts["labelled"] += 1
        counts["windows"] += done.windows
        labelled_s += audio_s[source.sha256]
        line.update(_handled(counts), _note(counts, labelled_s))
    for failure in failures:
        context.log.warning(f"{failure['path']}: {failure['reason']}")
    counts["removed"] = _prune(home, out, present)
    catalog.record_failures(home, asset=ASSET, partition_key="all", rows=failures)
    combined = _combined(home, present)
    buf = io.BytesIO()
    combined.write_parquet(buf)
    storage.atomic_write_bytes(out / "combined.parquet", buf.getvalue())
    storage.atomic_write_bytes(out / "combined.csv", combined.write_csv(float_precision=4).encode())
    elapsed = time.perf_counter() - started
    context.log.info(line.message(_handled(counts), _note(counts, labelled_s)))
    catalog.record_lineage(
        home,
        asset=ASSET,
        partition_key="all",
        run_id=context.run_id,
        code_version="2",
        params={"run_key": key, "models": [f"{c.name}/{c.version}" for c in champions]},
        inputs=[],
        output_fingerprint=file_sha256(out / "combined.parquet"),
        rows=combined.height,
    )
    return MaterializeResult(
        metadata={
            **counts,
            "models": ", ".join(f"{c.name} v{c.version}" for c in champions),
            "scope": "whole inbox" if chosen is None else ", ".join(sorted(config.folders)) or "(none)",
            "rows": combined.height,
            "seconds": round(elapsed, 1),
            "real_time_factor": round(labelled_s / elapsed, 1) if counts["labelled"] and elapsed else 0.0,
            "combined": MetadataValue.path(str(out / "combined.parquet")),
            "failed_recordings": md_table(
                pl.DataFrame(failures, schema={"path": pl.String, "reason": pl.String}, strict=False).select(
                    "path", "reason"
                )
                if failures
                else pl.DataFrame(schema={"path": pl.String, "reason": pl.String})
            ),
        }
    )


def _handled(counts: dict[str, int]) -> int:
    return sum(counts[k] for k in ("labelled", "skipped_done", "failed", "duplicates", "waiting"))


def _note(counts: dict[str, int], audio_s: float) -> str:
    return (
        f"{counts['labelled']} labelled ({counts['windows']} windows, {audio_s / 3600:.2f} h of audio), "
        f"{counts['skipped_done']} already done, {counts['failed']} failed"
    )


def _confirmed(context: AssetExecutionContext, folder: Path, folders: dict[str, str]) -> set[Path]:
    """The requested folders whose listing is still the one the sensor saw settled."""
    ok = set()
    for rel, expected in sorted(folders.items()):
        path = folder if rel == ROOT else folder / rel
        try:
            current = listing(path)[0]
        except (FileNotFoundError, NotADirectoryError):
            current = None
        if current == expected:
            ok.add(path)
        else:
            context.log.info(f"{rel}: changed since the sensor saw it settled; left for its next tick")
    return ok


def _mark(out: Path, sha: str, key: str, path: Path, stat: tuple[int, int], windows: int | None) -> None:
    record: dict[str, Any] = {"path": str(path), "size": stat[0], "mtime_ns": stat[1]}
    if windows is None:  # a marker kept: keep its window count
        with contextlib.suppress(OSError, ValueError):
            windows = json.loads(inbox.marker(out, sha).read_text()).get("windows")
    inbox.mark_done(out, sha, key, {**record, "windows": windows})


def _prune(home: Path, out: Path, present: dict[str, str]) -> int:
    """Drop the labels of content no longer in the inbox (a file removed or replaced)."""
    removed = 0
    for sha in inbox.done_shas(out):
        if sha not in present:
            storage.remove_partition(home, ASSET, {"recording": sha})
            inbox.unmark(out, sha)
            removed += 1
    return removed


def champion_versions(sec: SecResource) -> list[tuple[int, str, str]]:
    """(octave, registered name, version) of each inference octave's champion, read from the registry."""
    cfg = sec.settings
    found = []
    with tracking(cfg.tracking_uri) as client:
        for n in cfg.inference_octaves or cfg.octaves:
            name = registered_name(cfg.registered_model_prefix, n)
            version = version_by_alias(client, name, CHAMPION)
            if version is not None:
                found.append((n, name, str(version.version)))
    return found


def _champions(context: AssetExecutionContext, sec: SecResource) -> list[Champion]:
    import mlflow

    found = champion_versions(sec)
    missing = sorted(set(sec.settings.inference_octaves or sec.settings.octaves) - {n for n, _, _ in found})
    for n in missing:
        context.log.warning(f"1/{n}: no champion yet; this octave does not label")
    if not found:
        raise Failure(
            "no registered model has a champion: materialize trained_classifier and evaluation_report "
            "(a model that passes the gate becomes `champion`)",
            allow_retries=False,
        )
    with tracking(sec.settings.tracking_uri):  # models:/ URIs resolve against this registry
        return [
            Champion(n, name, version, mlflow.pyfunc.load_model(f"models:/{name}/{version}"))
            for n, name, version in found
        ]


def _featurizer(sec: SecResource, champions: list[Champion]) -> Featurizer:
    cfg = sec.settings
    needs_clap = any("embedding" in (c.model.metadata.get_input_schema().input_names()) for c in champions)
    model = None
    if needs_clap:
        use_threads(sec.cpu_count())
        files = clap_store.resolve_model_files(sec.models_path, cfg.allow_random_init)
        stat = files.weights.stat()
        model = _loaded_clap(files, stat.st_mtime_ns, stat.st_size, cfg.embed_device, cfg.embed_precision)
    spec = cfg.spectrograms
    return Featurizer(
        model,
        [cfg.level_params(c.octave) for c in champions],
        spectrogram_device=resolve_device(spec.spectrogram_device),
        spectrogram_batch=spec.spectrogram_batch_size,
        forward_batch=cfg.embed_batch_size
        if model is None or model.device == "cpu"
        else clap.gpu_batch_size(model.device),
        workers=cfg.embed_workers,
    )


def _combined(home: Path, present: dict[str, str]) -> pl.DataFrame:
    """Every labelled recording of the inbox, in path order."""
    order = sorted(present, key=lambda sha: (present[sha], sha))
    frames = [storage.read_partition(home, ASSET, {"recording": s}) for s in order]
    schema = schemas.TABLE_SCHEMAS[ASSET]
    return pl.concat(frames).cast(schema) if frames else pl.DataFrame(schema=schema)  # type: ignore[arg-type]


ASSETS = [inbox_predictions]
defs = Definitions(assets=ASSETS)
