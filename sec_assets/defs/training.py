"""Training stage: the per-octave ``trained_classifier``."""

import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sec_assets.core.audio.splits import fingerprint
from sec_assets.core.devices import use_threads
from sec_assets.core.evaluation.chance import chance_check
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models.candidates import Candidate
from sec_assets.core.models.data import load_segment_data, split_rows
from sec_assets.core.models.learn import TrainedModel, train_candidate
from sec_assets.core.models.selection import select
from sec_assets.core.store import catalog, schemas, storage
from sec_assets.core.tracking.geometry import SegmentGeometry, agreed_geometry
from sec_assets.core.tracking.runs import training_run
from sec_assets.core.tracking.store import cluster_warning, tracking
from sec_assets.defs._shared import (
    ALL,
    BY_OCTAVE,
    STEP_RETRY,
    asset_boundary,
    code_version,
    finish,
    md_table,
    mlflow_metadata,
    registered_classes,
    requests,
    upstream,
)
from sec_assets.partitions import (
    AUDIO_CLASS,
    OCTAVE,
    octave_partitions,
)
from sec_assets.resources import SecResource

GROUP = "training"
TRAINING_READS = ("train", "es", "valid")  # fit, early stopping, selection; never test


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("splits", partition_mapping=ALL),
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="4",
    group_name=GROUP,
    op_tags=requests(cpus=2),  # trains on the CPU: no GPU to wait for
    retry_policy=STEP_RETRY,
    description="Every candidate of the `candidates` setting (feature set × head: CLAP, band "
    "statistics, both, or a CNN over the spectrogram; linear or MLP) trained on train, "
    "early-stopped on es, class-weighted, deterministic; the best validation macro-F1 is the "
    "octave's model. A candidate whose validation macro-F1 is not clearly above chance (a uniform "
    "guess, and the 95th percentile with labels permuted across files) is flagged and warned "
    "about. Reads train, es and valid — never test.",
    kinds={"torch", "mlflow", "parquet"},
)
@asset_boundary
def trained_classifier(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    n = int(context.partition_key)
    home = sec.home_path
    threads = use_threads(sec.cpu_count())
    registered = registered_classes(context)
    data = load_segment_data(home, n, registered, TRAINING_READS)
    classes = sorted({data.classes[i] for i in data.labels[data.mask("train")]})
    left_out = sorted(set(registered) - set(classes))
    if len(classes) < 2:  # the data, not the node: a retry would fail the same way
        raise Failure(
            f"1/{n}: a classifier needs at least 2 classes with training segments, there are "
            f"{len(classes)} ({', '.join(classes) or 'none'}); classes without: "
            f"{', '.join(left_out) or 'none'}. Add audio (or lower min_clip_seconds) and "
            "re-materialize from raw_manifest",
            allow_retries=False,
        )
    if left_out:
        context.log.warning(
            f"1/{n}: training without the classes that have no training segments: {', '.join(left_out)}"
        )
        data = load_segment_data(home, n, classes, TRAINING_READS)
    train, es, valid = (data.subset(data.mask(s)) for s in TRAINING_READS)
    out_dir = home / "artifacts" / "trained_classifier" / f"octave={n}"
    emb_models = sorted(
        pl.concat(
            [
                storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["model_sha256"])
                for k in classes
            ]
        )["model_sha256"]
        .unique()
        .to_list()
    )
    splits_fp = fingerprint(split_rows(home, classes), classes)
    geometry = _segment_geometry(home, n, classes)
    trained: dict[str, TrainedModel] = {}
    probabilities: dict[str, np.ndarray] = {}
    rows: list[tuple[Candidate, Path, float]] = []
    uri = cfg.tracking_uri
    if warning := cluster_warning(uri, os.environ):
        context.log.warning(warning)
    tags = {"sec.asset": "trained_classifier", "sec.octave": str(n), "dagster.run_id": context.run_id}
    run_params = {
        "splits_fingerprint": splits_fp,
        "embedding_model_sha256": ",".join(emb_models),
        "code_version": code_version(context),
        "dagster_run_id": context.run_id,
        "partition": str(n),
        "seed": cfg.seed,
        "splits_read": ",".join(TRAINING_READS),
        **(geometry.run_params() if geometry is not None else {}),  # what inference windows follow
    }
    with (
        tracking(uri) as client,
        training_run(client, uri, cfg.mlflow_experiment, n, run_params, tags) as log,
    ):
        for i, candidate in enumerate(cfg.candidates):
            started = time.perf_counter()
            model = train_candidate(candidate, train, es, cfg.seed)
            seconds = time.perf_counter() - started
            path = out_dir / f"{candidate.id.replace('/', '_')}.safetensors"
            storage.atomic_write_bytes(path, model.to_bytes())
            trained[candidate.id] = model
            probabilities[candidate.id] = model.probabilities(valid)
            rows.append((candidate, path, seconds))
            log.candidate(model, train, {"model_path": path, "model_sha256": file_sha256(path)})
            context.log.info(
                f"1/{n}: candidate {i + 1}/{len(cfg.candidates)} {candidate.id}: {model.epochs} epochs "
                f"(best {model.best_epoch}, es loss {model.best_es_loss:.4f}) in {seconds:.1f} s"
            )
        chosen, table = select(probabilities, valid.labels)
        chance = {
            cid: chance_check(valid.labels, proba.argmax(axis=1), valid.source_sha256, cfg.seed)
            for cid, proba in probabilities.items()
        }
        for cid, check in chance.items():
            if line := check.warning(f"1/{n}: {cid}"):
                context.log.warning(line)
        valid_figures = {
            t["candidate"]: {"macro_f1": t["valid_macro_f1"], "accuracy": t["valid_accuracy"]} for t in table
        }
        log.selected(chosen, valid_figures)
    frame = pl.DataFrame(
        [
            {
                "octave": n,
                "candidate": candidate.id,
                "feature_set": candidate.features.name,
                "head": candidate.head.name,
                "config": json.dumps(candidate.identity(), sort_keys=True),
                "selected": t["selected"],
                "model_path": str(path),
                "model_sha256": file_sha256(path),
                "classes": classes,
                "n_train": len(train),
                "n_es": len(es),
                "n_valid": len(valid),
                "epochs": trained[t["candidate"]].epochs,
                "best_epoch": trained[t["candidate"]].best_epoch,
                "best_es_loss": trained[t["candidate"]].best_es_loss,
                "valid_macro_f1": t["valid_macro_f1"],
                "valid_accuracy": t["valid_accuracy"],
                "valid_chance_macro_f1": chance[t["candidate"]].chance,
                "valid_null_macro_f1_p95": chance[t["candidate"]].null_p95,
                "valid_above_chance": chance[t["candidate"]].above_chance,
                "train_seconds": seconds,
                "embedding_model_sha256": ",".join(emb_models),
                "splits_fingerprint": splits_fp,
                "mlflow_experiment_id": log.experiment_id,
                "mlflow_parent_run_id": log.parent_run_id,
                "mlflow_run_id": log.children[candidate.id].run_id,
                "mlflow_model_uri": log.children[candidate.id].model_uri,
            }
            for (candidate, path, seconds), t in zip(rows, table, strict=True)
        ],
        schema=schemas.TABLE_SCHEMAS["trained_classifier"],
    )
    written = catalog.write_table_partition(home, "trained_classifier", {OCTAVE: str(n)}, frame)
    best = frame.filter(pl.col("selected")).row(0, named=True)
    context.log.info(f"1/{n}: selected {chosen} (validation macro-F1 {best['valid_macro_f1']:.3f})")
    inputs = upstream(
        home,
        [("splits", k) for k in classes]
        + [("clap_embeddings", k) for k in classes]
        + [("octave_spectrograms", f"{k}|{n}") for k in classes],
    )
    return finish(
        context,
        sec=sec,
        partition_key=str(n),
        written=written,
        params={
            "candidates": [c.identity() for c in cfg.candidates],
            "seed": cfg.seed,
            "torch_threads": threads,
            "selection": "valid macro-F1",
            "splits_read": list(TRAINING_READS),
        },
        inputs=inputs,
        metadata={
            "selected": chosen,
            "valid_macro_f1": round(best["valid_macro_f1"], 4),
            "model_path": MetadataValue.path(best["model_path"]),
            "model_sha256": best["model_sha256"],
            "candidates": md_table(
                frame.select(
                    "candidate",
                    "selected",
                    "valid_macro_f1",
                    "valid_accuracy",
                    "valid_above_chance",
                    "epochs",
                    "train_seconds",
                ).with_columns(pl.col("valid_macro_f1", "valid_accuracy", "train_seconds").round(3))
            ),
            "at_chance": ", ".join(c for c, v in chance.items() if v.above_chance is False) or "none",
            "classes": len(classes),
            "classes_left_out": ", ".join(left_out) or "none",
            "train_examples": len(train),
            "es_examples": len(es),
            "valid_examples": len(valid),
            "splits_fingerprint": splits_fp,
            **mlflow_metadata(cfg, log.experiment_id, log.parent_run_id),
        },
    )


def _segment_geometry(home: Path, n: int, classes: list[str]) -> SegmentGeometry | None:
    """The segment geometry the classes' training segments were cut with (their
    ``augmented_segments`` lineage); None when no class records one."""
    lineage = {}
    for key in classes:
        row = catalog.read_lineage(home, "augmented_segments", key)
        lineage[key] = json.loads(row["params"]) if row is not None and row["params"] else None
    try:
        return agreed_geometry(lineage)
    except ValueError as exc:  # the data, not the node: a retry would fail the same way
        raise Failure(f"1/{n}: {exc}", allow_retries=False) from exc


ASSETS = [trained_classifier]
defs = Definitions(assets=ASSETS)
