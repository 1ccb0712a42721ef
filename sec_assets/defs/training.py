"""Training stage, per octave resolution: ``splits`` (by source file) and ``trained_classifier``."""

import numpy as np
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

from sec_assets.core.features.stats import load_features
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models.classifier import train_linear
from sec_assets.core.models.splits import assign_segments
from sec_assets.core.settings import SPLITS
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    ALL,
    BY_OCTAVE,
    STEP_RETRY,
    asset_boundary,
    finish,
    md_table,
    registered_classes,
    requests,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, OCTAVE, octave_partitions
from sec_assets.resources import SecResource

GROUP = "training"


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="1",
    group_name=GROUP,
    description="train / es / valid / test assignment of every segment, cut per source file "
    "(content hash) and stratified by class: no recording is in two splits.",
)
@asset_boundary
def splits(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    train = cfg.training
    n = int(context.partition_key)
    home = sec.home_path
    classes = registered_classes(context)
    spectra = pl.concat(
        [
            storage.read_partition(
                home,
                "octave_spectrograms",
                {AUDIO_CLASS: k, OCTAVE: str(n)},
                ["segment_key", "partition_key", "source_sha256"],
            )
            for k in classes
        ]
    )
    embedded = pl.concat(
        [storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["segment_key"]) for k in classes]
    )
    segments = spectra.join(embedded, on="segment_key", how="semi")
    present = set(segments["partition_key"].unique().to_list())
    empty = [k for k in classes if k not in present]
    if empty:
        context.log.warning(
            f"1/{n}: {len(empty)} class(es) with no segments are left out of the splits and of "
            f"training: {', '.join(empty)} (see augmented_segments' has_segments check)"
        )
    assigned = assign_segments(segments, train.split_fractions, cfg.seed)
    assigned = assigned.with_columns(pl.lit(n).alias("octave")).sort("segment_key")
    leaking = (
        assigned.group_by("source_sha256").agg(pl.col("split").n_unique().alias("k")).filter(pl.col("k") > 1)
    )
    if leaking.height:  # cannot happen by construction; checked because leakage is silent
        raise AssertionError(f"{leaking.height} source files are in more than one split")
    written = catalog.write_table_partition(home, "splits", {OCTAVE: str(n)}, assigned)
    inputs = upstream(
        home,
        [("clap_embeddings", k) for k in classes] + [("octave_spectrograms", f"{k}|{n}") for k in classes],
    )
    table = (
        assigned.group_by("partition_key", "split")
        .len()
        .pivot(on="split", index="partition_key", values="len")
        .fill_null(0)
        .sort("partition_key")
    )
    for s in SPLITS:
        if s not in table.columns:
            table = table.with_columns(pl.lit(0).alias(s))
    return finish(
        context,
        sec=sec,
        partition_key=str(n),
        written=written,
        params={"fractions": train.split_fractions, "seed": cfg.seed, "unit": "source_file"},
        inputs=inputs,
        metadata={
            "classes": len(classes) - len(empty),
            "classes_left_out": ", ".join(empty) or "none",
            "segments": assigned.height,
            **{f"{s}_segments": int((assigned["split"] == s).sum()) for s in SPLITS},
            "files_in_two_splits": 0,
            "per_class": md_table(table.select("partition_key", *SPLITS), limit=50),
        },
    )


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("splits"),
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="1",
    group_name=GROUP,
    op_tags=requests(cpus=2),  # trains on the CPU: no GPU to wait for
    retry_policy=STEP_RETRY,
    description="Linear soft-max classifier on CLAP embedding ⊕ band-level statistics, "
    "early-stopped on the es split; deterministic.",
)
@asset_boundary
def trained_classifier(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    train = cfg.training
    n = int(context.partition_key)
    home = sec.home_path
    torch.set_num_threads(sec.cpu_count())
    split_frame = storage.read_partition(home, "splits", {OCTAVE: str(n)})
    classes = sorted(split_frame["partition_key"].unique().to_list())
    left_out = sorted(set(registered_classes(context)) - set(classes))
    if len(classes) < 2:  # the data, not the node: a retry would fail the same way
        raise Failure(
            f"1/{n}: a classifier needs at least 2 classes with segments, the splits hold "
            f"{len(classes)} ({', '.join(classes) or 'none'}); classes without segments: "
            f"{', '.join(left_out) or 'none'}. Add audio (or lower min_clip_seconds) and "
            "re-materialize from raw_manifest",
            allow_retries=False,
        )
    if left_out:
        context.log.warning(
            f"1/{n}: training without the classes that have no segments: {', '.join(left_out)}"
        )
    fs = load_features(home, n, split_frame, classes)
    mask = {s: np.array([x == s for x in fs.splits], dtype=bool) for s in SPLITS}
    model = train_linear(
        fs.features[mask["train"]],
        fs.labels[mask["train"]],
        fs.features[mask["es"]],
        fs.labels[mask["es"]],
        fs.classes,
        seed=cfg.seed,
        epochs=train.classifier_epochs,
        patience=train.classifier_patience,
        lr=train.classifier_learning_rate,
    )
    blob = model.to_bytes()
    model_path = home / "artifacts" / "trained_classifier" / f"octave={n}" / "classifier.npz"
    storage.atomic_write_bytes(model_path, blob)
    model_sha = file_sha256(model_path)
    emb_models = (
        pl.concat(
            [
                storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["model_sha256"])
                for k in classes
            ]
        )["model_sha256"]
        .unique()
        .to_list()
    )
    row = pl.DataFrame(
        {
            "octave": [n],
            "model_path": [str(model_path)],
            "model_sha256": [model_sha],
            "classes": [fs.classes],
            "n_features": [fs.features.shape[1]],
            "n_train": [int(mask["train"].sum())],
            "n_es": [int(mask["es"].sum())],
            "epochs": [model.epochs],
            "best_es_loss": [model.best_es_loss],
            "embedding_model_sha256": [",".join(sorted(emb_models))],
        }
    )
    written = catalog.write_table_partition(home, "trained_classifier", {OCTAVE: str(n)}, row)
    inputs = upstream(home, [("splits", str(n))])
    return finish(
        context,
        sec=sec,
        partition_key=str(n),
        written=written,
        params={
            "epochs": train.classifier_epochs,
            "patience": train.classifier_patience,
            "learning_rate": train.classifier_learning_rate,
            "seed": cfg.seed,
        },
        inputs=inputs,
        metadata={
            "model_path": MetadataValue.path(str(model_path)),
            "model_sha256": model_sha,
            "classes": len(fs.classes),
            "classes_left_out": ", ".join(left_out) or "none",
            "features": fs.features.shape[1],
            "train_examples": int(mask["train"].sum()),
            "es_examples": int(mask["es"].sum()),
            "epochs_run": model.epochs,
            "best_es_loss": round(model.best_es_loss, 5),
        },
    )


ASSETS = [splits, trained_classifier]
defs = Definitions(assets=ASSETS)
