"""The CLAP zero-shot baseline over every stored embedding (no training, no split)."""

import json

import numpy as np
import polars as pl
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset

from sec_assets.core.devices import use_threads
from sec_assets.core.evaluation.report import render_markdown
from sec_assets.core.features import clap, clap_store
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models import zero_shot
from sec_assets.core.store import catalog, schemas, storage
from sec_assets.defs._shared import ALL, asset_boundary, class_name, finish, registered_classes, upstream
from sec_assets.defs.evaluation import GROUP
from sec_assets.partitions import AUDIO_CLASS
from sec_assets.resources import SecResource


@asset(
    deps=[AssetDep("clap_embeddings", partition_mapping=ALL)],
    code_version="1",
    group_name=GROUP,
    description="Zero-shot baseline: every stored embedding classified by the CLAP text tower's "
    f"prompt '{zero_shot.PROMPT}' per class, no training; accuracy, mAP, per-class report. "
    "Skipped with an explicit notice when the text model is absent.",
    kinds={"torch", "parquet", "duckdb"},
)
@asset_boundary
def zero_shot_baseline(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    home = sec.home_path
    keys = registered_classes(context)
    names = [class_name(sec, k) for k in keys]
    use_threads(sec.cpu_count())
    files = clap_store.resolve_model_files(sec.models_path, cfg.allow_random_init)
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
    markdown = render_markdown(title, results) if results else f"# {title}\n\n{notice}\n"
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
        pl.DataFrame([row], schema=schemas.TABLE_SCHEMAS["zero_shot_report"]),
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


ASSETS = [zero_shot_baseline]
defs = Definitions(assets=ASSETS)
