"""Inference stage: ``inbox_predictions`` labels the recordings of the inbox with each octave's
``champion`` from the registry — windows, features and scores through the training code path."""

import io
import time
from pathlib import Path
from typing import Any

import polars as pl
import torch
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sec_assets.core.devices import resolve_device
from sec_assets.core.features import clap
from sec_assets.core.hashing import file_sha256
from sec_assets.core.inference import inbox
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion, label_recording
from sec_assets.core.inference.tables import raven_table, result_csv
from sec_assets.core.inference.windows import WindowParams, grade
from sec_assets.core.store import catalog, storage
from sec_assets.core.tracking.gate import CHAMPION
from sec_assets.core.tracking.registry import registered_name, version_by_alias
from sec_assets.core.tracking.store import tracking
from sec_assets.defs._shared import ALL, asset_boundary, md_table, registered_classes, requests
from sec_assets.defs.evaluation import class_names
from sec_assets.defs.features import _loaded_clap
from sec_assets.resources import SecResource

GROUP = "inference"
ASSET = "inbox_predictions"


@asset(
    deps=[AssetDep("evaluation_report", partition_mapping=ALL)],
    code_version="1",
    group_name=GROUP,
    op_tags=requests(gpus=1),  # CLAP on the windows, as clap_embeddings
    description="Every recording of the inbox (SEC_INBOX) labelled by the champion of each octave "
    "resolution (the registry's `champion` alias): windows cut, resampled and featurized by the "
    "training code path, top-k labels above min_confidence per window as CSV and Raven selection "
    "tables under predictions/, the catalog view `predictions`, and a combined table. Resumable: a "
    "recording already done with the same champions and settings is skipped.",
)
@asset_boundary
def inbox_predictions(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
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
    counts = {"recordings": len(paths), "labelled": 0, "skipped_done": 0, "failed": 0, "windows": 0}
    failures: list[dict[str, Any]] = []
    shas: list[str] = []
    started, audio_s = time.perf_counter(), 0.0
    for i, path in enumerate(paths, start=1):
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
            context.log.warning(f"{path.name}: not labelled: {row['error']}")
            continue
        shas.append(source.sha256)
        if inbox.is_done(out, source.sha256, key):
            counts["skipped_done"] += 1
            continue
        labelled = label_recording(
            source, params, featurizer, champions, names, cfg.top_k, cfg.min_confidence
        )
        rel = path.relative_to(folder)
        for champion in champions:
            part = labelled.rows.filter(pl.col("octave") == champion.octave)
            stem = out / rel.parent / f"{rel.name}.oct{champion.octave}"
            storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".csv"), result_csv(part).encode())
            raven = raven_table(part, 0.0, params.sample_rate / 2)
            storage.atomic_write_bytes(stem.with_suffix(stem.suffix + ".selection.table.txt"), raven.encode())
        catalog.write_table_partition(home, ASSET, {"recording": source.sha256}, labelled.rows)
        inbox.mark_done(out, source.sha256, key, {"path": str(path), "windows": labelled.windows})
        failures += [{**f, "path": str(path)} for f in labelled.failures]
        counts["labelled"] += 1
        counts["windows"] += labelled.windows
        audio_s += row["duration_s"] or 0.0
        elapsed = time.perf_counter() - started
        context.log.info(
            f"{i}/{len(paths)} recordings ({100 * i / len(paths):.0f} %): {path.name}, {labelled.windows} "
            f"windows; {audio_s / 3600:.2f} h of audio in {elapsed:.0f} s "
            f"(real-time factor {audio_s / max(elapsed, 1e-9):.1f}×)"
        )
    catalog.record_failures(home, asset=ASSET, partition_key="all", rows=failures)
    combined = _combined(home, shas)
    buf = io.BytesIO()
    combined.write_parquet(buf)
    storage.atomic_write_bytes(out / "combined.parquet", buf.getvalue())
    storage.atomic_write_bytes(out / "combined.csv", combined.write_csv(float_precision=4).encode())
    elapsed = time.perf_counter() - started
    catalog.record_lineage(
        home,
        asset=ASSET,
        partition_key="all",
        run_id=context.run_id,
        code_version="1",
        params={"run_key": key, "models": [f"{c.name}/{c.version}" for c in champions]},
        inputs=[],
        output_fingerprint=file_sha256(out / "combined.parquet"),
        rows=combined.height,
    )
    return MaterializeResult(
        metadata={
            **counts,
            "models": ", ".join(f"{c.name} v{c.version}" for c in champions),
            "rows": combined.height,
            "seconds": round(elapsed, 1),
            "real_time_factor": round(audio_s / elapsed, 1) if counts["labelled"] and elapsed else 0.0,
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


def _champions(context: AssetExecutionContext, sec: SecResource) -> list[Champion]:
    import mlflow

    cfg = sec.settings
    found = []
    with tracking(cfg.tracking_uri) as client:
        for n in cfg.inference_octaves or cfg.octaves:
            name = registered_name(cfg.registered_model_prefix, n)
            version = version_by_alias(client, name, CHAMPION)
            if version is None:
                context.log.warning(f"1/{n}: {name} has no champion yet; this octave does not label")
                continue
            model = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
            found.append(Champion(n, name, str(version.version), model))
    if not found:
        raise Failure(
            "no registered model has a champion: materialize trained_classifier and evaluation_report "
            "(a model that passes the gate becomes `champion`)",
            allow_retries=False,
        )
    return found


def _featurizer(sec: SecResource, champions: list[Champion]) -> Featurizer:
    cfg = sec.settings
    needs_clap = any("embedding" in (c.model.metadata.get_input_schema().input_names()) for c in champions)
    model = None
    if needs_clap:
        torch.set_num_threads(sec.cpu_count())
        files = clap.resolve_model_files(sec.models_path, cfg.allow_random_init)
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


def _combined(home: Path, shas: list[str]) -> pl.DataFrame:
    frames = [storage.read_partition(home, ASSET, {"recording": s}) for s in dict.fromkeys(shas)]
    schema = catalog.TABLE_SCHEMAS[ASSET]
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


ASSETS = [inbox_predictions]
defs = Definitions(assets=ASSETS)
