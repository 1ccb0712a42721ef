"""Evaluation stage: the per-octave ``evaluation_report`` on the held-out splits and the CLAP
``zero_shot_baseline`` (no training)."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import torch
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset

from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.evaluation.report import render_markdown
from sec_assets.core.features import clap
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models import zero_shot
from sec_assets.core.models.data import load_segment_data
from sec_assets.core.models.learn import TrainedModel
from sec_assets.core.store import catalog, storage
from sec_assets.defs._shared import (
    ALL,
    BY_OCTAVE,
    asset_boundary,
    class_name,
    finish,
    registered_classes,
    upstream,
)
from sec_assets.partitions import AUDIO_CLASS, OCTAVE, octave_partitions
from sec_assets.resources import SecResource

GROUP = "evaluation"
EVALUATION_READS = ("valid", "test")  # the held-out splits; no other asset reads test


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("trained_classifier"),
        AssetDep("splits", partition_mapping=ALL),
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="2",
    group_name=GROUP,
    description="Accuracy, macro precision / recall / F0.5, mAP, per-class figures and the "
    "confusion matrix on the held-out valid and test splits (clean, un-augmented segments; the "
    "only asset that reads test); Markdown + JSON report.",
)
@asset_boundary
def evaluation_report(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    n = int(context.partition_key)
    home = sec.home_path
    models = storage.read_partition(home, "trained_classifier", {OCTAVE: str(n)})
    model_row = models.filter(pl.col("selected")).row(0, named=True)
    model = TrainedModel.from_bytes(Path(model_row["model_path"]).read_bytes())
    data = load_segment_data(home, n, model.classes, EVALUATION_READS)
    results = {}
    for s in EVALUATION_READS:
        part = data.subset(data.mask(s))
        results[s] = evaluate(part.labels, model.probabilities(part), data.classes)
    report_dir = home / "reports" / f"octave={n}"
    title = f"Evaluation, 1/{n} octave — {model_row['candidate']} (selected on validation macro-F1)"
    markdown = render_markdown(title, results, data.classes)
    storage.atomic_write_bytes(report_dir / "report.md", markdown.encode())
    storage.atomic_write_bytes(report_dir / "report.json", json.dumps(results, indent=2).encode())
    rows = pl.DataFrame(
        [
            {
                "octave": n,
                "candidate": model_row["candidate"],
                "split": s,
                "n": r.get("n", 0),
                "accuracy": r.get("accuracy"),
                "macro_precision": r.get("macro_precision"),
                "macro_recall": r.get("macro_recall"),
                "macro_f05": r.get("macro_f05"),
                "mean_average_precision": r.get("mean_average_precision"),
                "model_sha256": model_row["model_sha256"],
                "report_path": str(report_dir / "report.md"),
            }
            for s, r in results.items()
        ],
        schema=catalog.TABLE_SCHEMAS["evaluation_report"],
    )
    written = catalog.write_table_partition(home, "evaluation_report", {OCTAVE: str(n)}, rows)
    inputs = upstream(home, [("trained_classifier", str(n))] + [("splits", k) for k in model.classes])
    test = results["test"]
    return finish(
        context,
        sec=sec,
        partition_key=str(n),
        written=written,
        params={"splits_read": list(EVALUATION_READS)},
        inputs=inputs,
        metadata={
            "candidate": model_row["candidate"],
            "test_accuracy": round(test.get("accuracy", 0.0), 4),
            "test_mAP": round(test.get("mean_average_precision", 0.0), 4),
            "test_macro_f05": round(test.get("macro_f05", 0.0), 4),
            "test_examples": test.get("n", 0),
            "report_path": MetadataValue.path(str(report_dir / "report.md")),
            "report": MetadataValue.md(markdown),
        },
    )


@asset(
    deps=[AssetDep("clap_embeddings", partition_mapping=ALL)],
    code_version="1",
    group_name=GROUP,
    description="Zero-shot baseline: every stored embedding classified by the CLAP text tower's "
    f"prompt '{zero_shot.PROMPT}' per class, no training; accuracy, mAP, per-class report. "
    "Skipped with an explicit notice when the text model is absent.",
)
@asset_boundary
def zero_shot_baseline(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    keys = registered_classes(context)
    names = [class_name(sec, k) for k in keys]
    torch.set_num_threads(sec.cpu_count())
    files = clap.resolve_model_files(sec.models_path, cfg.allow_random_init)
    frames = [
        storage.read_partition(home, "clap_embeddings", {AUDIO_CLASS: k}, ["model_sha256", "embedding"])
        for k in keys
    ]
    used = {h for f in frames for h in f["model_sha256"].unique().to_list()}
    notice, results = "", {}
    try:
        model = clap.load_clap(files, need_text=True, device=cfg.embed_device)
        if used - {model.weights_sha256}:
            raise clap.ModelStoreError(
                f"stored embeddings were made with weights {sorted(used)}, the store now holds "
                f"{model.weights_sha256}: re-materialize clap_embeddings first"
            )
        audio = np.concatenate(
            [
                np.asarray(f["embedding"].to_numpy(), dtype=np.float32).reshape(-1, clap.EMBEDDING_DIM)
                for f in frames
            ]
        )
        labels = np.concatenate([np.full(f.height, i) for i, f in enumerate(frames)])
        results = {"all": zero_shot.zero_shot(model, audio, labels, names)}
    except clap.TextModelUnavailable as exc:
        notice = f"zero-shot baseline SKIPPED: text model unavailable ({exc})"
        context.log.warning(notice)
    report_dir = home / "reports" / "zero_shot"
    title = f"Zero-shot baseline ({files.model_id}), prompt '{zero_shot.PROMPT}'"
    markdown = render_markdown(title, results, names) if results else f"# {title}\n\n{notice}\n"
    storage.atomic_write_bytes(report_dir / "report.md", markdown.encode())
    storage.atomic_write_bytes(
        report_dir / "report.json", json.dumps({"notice": notice, **results}, indent=2).encode()
    )
    res = results.get("all", {})
    row = {
        "scope": "all",
        "status": "skipped" if notice else "ok",
        "notice": notice,
        "prompt": zero_shot.PROMPT,
        "classes": len(keys),
        "n": res.get("n", 0),
        "accuracy": res.get("accuracy"),
        "macro_f05": res.get("macro_f05"),
        "mean_average_precision": res.get("mean_average_precision"),
        "model_sha256": file_sha256(files.weights),
        "random_init": files.random_init,
        "report_path": str(report_dir / "report.md"),
    }
    written = catalog.write_table_partition(
        home,
        "zero_shot_report",
        {"scope": "all"},
        pl.DataFrame([row], schema=catalog.TABLE_SCHEMAS["zero_shot_report"]),
    )
    inputs = upstream(home, [("clap_embeddings", k) for k in keys])
    return finish(
        context,
        sec=sec,
        partition_key="all",
        written=written,
        params={"prompt": zero_shot.PROMPT, "model_sha256": row["model_sha256"]},
        inputs=inputs,
        metadata={
            "status": row["status"],
            "notice": notice or "none",
            "accuracy": round(res.get("accuracy", 0.0), 4),
            "mAP": round(res.get("mean_average_precision", 0.0), 4),
            "segments": res.get("n", 0),
            "random_init": files.random_init,
            "report": MetadataValue.md(markdown),
        },
    )


ASSETS = [evaluation_report, zero_shot_baseline]
defs = Definitions(assets=ASSETS)
