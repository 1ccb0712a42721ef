"""Training stage: ``splits`` of source files per audio class (upstream of the segments) and the
per-octave ``trained_classifier``."""

import shutil
from pathlib import Path

import polars as pl
import torch
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sec_assets.core.audio.manifest import source_files
from sec_assets.core.features.stats import load_features
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models.classifier import train_linear
from sec_assets.core.models.splits import assign_files, files_in_two_splits
from sec_assets.core.settings import SPLITS
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    ALL,
    BY_OCTAVE,
    ONE_RUN,
    STEP_RETRY,
    asset_boundary,
    each_partition,
    finish,
    md_table,
    registered_classes,
    requests,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, OCTAVE, audio_class_partitions, octave_partitions
from sec_assets.resources import SecResource

GROUP = "training"
NO_FILE_IN_TWO_SPLITS = "no_file_in_two_splits"  # the asset check on splits
TRAINING_READS = ("train", "es")  # the splits trained_classifier reads


@asset(
    partitions_def=audio_class_partitions,
    backfill_policy=ONE_RUN,
    deps=[AssetDep("raw_manifest")],
    code_version="2",
    group_name=GROUP,
    check_specs=[
        AssetCheckSpec(
            NO_FILE_IN_TWO_SPLITS,
            asset="splits",
            description="no source file (content hash) is in two splits, across every class",
        )
    ],
    description="train / es / valid / test of every usable source file, drawn from its content "
    "hash and the seed alone (adding files never moves one), before segmentation: valid and test "
    "segments are cut clean. Segments inherit their file's split, so no recording is in two.",
)
@asset_boundary
def splits(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    result = each_partition(context, lambda key: _splits_one(context, sec, key))
    return MaterializeResult(metadata=result.metadata, check_results=[_no_file_in_two_splits(sec)])


def _splits_one(context: AssetExecutionContext, sec: SecResource, key: str) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    _drop_old_layout(context, home)
    sources, _ = source_files(storage.read_partition(home, "raw_manifest", {AUDIO_CLASS: key}))
    files = pl.DataFrame(
        {"partition_key": [key] * len(sources), "source_sha256": [s.sha256 for s in sources]},
        schema={"partition_key": pl.String, "source_sha256": pl.String},
    )
    assigned, moved = assign_files(files, cfg.training.split_fractions, cfg.seed)
    written = catalog.write_table_partition(home, "splits", {AUDIO_CLASS: key}, assigned)
    counts = {s: int((assigned["split"] == s).sum()) for s in SPLITS}
    missing = [s for s in SPLITS if counts[s] == 0 and assigned.height]
    if missing:
        context.log.warning(f"{key}: {assigned.height} files, none in {', '.join(missing)} (a small class)")
    return finish(
        context,
        sec=sec,
        partition_key=key,
        written=written,
        params={"fractions": cfg.training.split_fractions, "seed": cfg.seed, "unit": "source_file"},
        inputs=upstream(home, [("raw_manifest", key)]),
        metadata={
            "files": assigned.height,
            **{f"{s}_files": counts[s] for s in SPLITS},
            "splits_without_files": ", ".join(missing) or "none",
            "files_moved_small_class": moved.get(key, 0),
        },
    )


def _drop_old_layout(context: AssetExecutionContext, home: Path) -> None:
    """``splits`` was per octave and per segment until December 2026; those partitions are superseded."""
    for old in sorted(storage.table_dir(home, "splits").glob(f"{OCTAVE}=*")):
        shutil.rmtree(old, ignore_errors=True)
        context.log.info(f"removed the superseded per-octave splits partition {old}")


def _no_file_in_two_splits(sec: SecResource) -> AssetCheckResult:
    assigned = catalog.query(sec.home_path, "SELECT partition_key, source_sha256, split FROM splits")
    leaking = files_in_two_splits(assigned)
    return AssetCheckResult(
        check_name=NO_FILE_IN_TWO_SPLITS,
        passed=leaking.is_empty(),
        description=f"{leaking.height} source files are in more than one split"
        if leaking.height
        else f"{assigned['source_sha256'].n_unique()} files, each in one split",
        metadata={
            "files_in_two_splits": leaking.height,
            "examples": md_table(
                leaking.with_columns(
                    pl.col("splits").list.join(", "), pl.col("partition_key").list.join(", ").alias("classes")
                ).select("source_sha256", "splits", "classes"),
                limit=20,
            ),
        },
    )


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("splits", partition_mapping=ALL),
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="2",
    group_name=GROUP,
    op_tags=requests(cpus=2),  # trains on the CPU: no GPU to wait for
    retry_policy=STEP_RETRY,
    description="Linear soft-max classifier on CLAP embedding ⊕ band-level statistics, trained on "
    "the train split, early-stopped on es (reads no other split); deterministic.",
)
@asset_boundary
def trained_classifier(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    train = cfg.training
    n = int(context.partition_key)
    home = sec.home_path
    torch.set_num_threads(sec.cpu_count())
    registered = registered_classes(context)
    fs = load_features(home, n, registered, TRAINING_READS)
    trained_on = {fs.classes[i] for i in fs.labels[fs.mask("train")]}
    classes = sorted(trained_on)
    left_out = sorted(set(registered) - trained_on)
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
        fs = load_features(home, n, classes, TRAINING_READS)
    mask = {s: fs.mask(s) for s in TRAINING_READS}
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
            "epochs": train.classifier_epochs,
            "patience": train.classifier_patience,
            "learning_rate": train.classifier_learning_rate,
            "seed": cfg.seed,
            "splits_read": list(TRAINING_READS),
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
