"""Evaluation stage: the per-octave ``evaluation_report`` on the held-out splits and the CLAP
``zero_shot_baseline`` (no training)."""

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from dagster import AssetDep, AssetExecutionContext, Definitions, MaterializeResult, MetadataValue, asset

from sec_assets.core.evaluation.bootstrap import STATISTICS, file_bootstrap, headline
from sec_assets.core.evaluation.figures import confusion_png
from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.evaluation.report import data_uri, render_markdown
from sec_assets.core.features import clap
from sec_assets.core.hashing import file_sha256
from sec_assets.core.models import zero_shot
from sec_assets.core.models.data import SegmentData, load_segment_data
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
    code_version="3",
    group_name=GROUP,
    description="The selected model and every candidate on the held-out valid and test splits "
    "(clean segments; the only asset that reads test): accuracy, balanced accuracy, macro-F1 / "
    "F0.5, macro mAP with 95 % bootstrap intervals resampled by source file, per-class figures under "
    "the classes' names, the confusion matrix (PNG), top confusions with example segments, and the "
    "CLAP zero-shot baseline on the same test set. Markdown + JSON + PNG under reports/.",
)
@asset_boundary
def evaluation_report(context: AssetExecutionContext, sec: SecResource) -> MaterializeResult:
    cfg = sec.settings
    n = int(context.partition_key)
    home = sec.home_path
    models = storage.read_partition(home, "trained_classifier", {OCTAVE: str(n)})
    selected = models.filter(pl.col("selected")).row(0, named=True)
    classes = list(selected["classes"])
    data = load_segment_data(home, n, classes, EVALUATION_READS)
    names = class_names(home, classes)
    held_out = {s: data.subset(data.mask(s)) for s in EVALUATION_READS}
    report_dir = home / "reports" / f"octave={n}"
    candidates, results, intervals, images, files = [], {}, {}, {}, {}
    for row in models.iter_rows(named=True):
        model = TrainedModel.from_bytes(Path(row["model_path"]).read_bytes())
        test = held_out["test"]
        proba = {s: model.probabilities(part) for s, part in held_out.items()}
        ci = file_bootstrap(test.labels, proba["test"], test.source_sha256, cfg.bootstrap_resamples, cfg.seed)
        figures = headline(test.labels, proba["test"]) if len(test) else dict.fromkeys(STATISTICS, 0.0)
        candidates.append(
            {
                "candidate": row["candidate"],
                "selected": row["selected"],
                "valid_macro_f1": row["valid_macro_f1"],
                "test_macro_f1": figures["macro_f1"],
                "test_macro_f1_ci": ci["macro_f1"],
                "test_map": figures["macro_map"],
                "test_map_ci": ci["macro_map"],
            }
        )
        for s, part in held_out.items():
            res = evaluate(part.labels, proba[s], names, part.segment_keys)
            iv = ci
            if s != "test":  # validation intervals for the selected model only (they cost time)
                iv = {}
                if row["selected"]:
                    iv = file_bootstrap(
                        part.labels, proba[s], part.source_sha256, cfg.bootstrap_resamples, cfg.seed
                    )
            results[(row["candidate"], s)] = (res, iv)
            if row["selected"]:
                if res.get("n"):
                    png = confusion_png(
                        res["confusion_matrix"], names, f"1/{n} octave, {s}: {row['candidate']}"
                    )
                    files[s] = f"confusion_{s}.png"
                    storage.atomic_write_bytes(report_dir / files[s], png)
                    images[s] = data_uri(png)
                intervals[s] = iv
    zero_shot_test, zs_note = _zero_shot_on(sec, held_out["test"], names)
    chosen = selected["candidate"]
    chosen_results = {s: results[(chosen, s)][0] for s in EVALUATION_READS}
    if zero_shot_test is not None:
        chosen_results["test, CLAP zero-shot baseline (no training)"] = zero_shot_test
    notes = [
        f"selected on validation macro-F1 among {len(candidates)} candidates; test read here only",
        f"95 % intervals: {cfg.bootstrap_resamples} bootstrap resamples of the source files",
        zs_note,
    ]
    title = f"Evaluation, 1/{n} octave: {chosen}"
    on_disk = render_markdown(title, chosen_results, intervals, files, candidates, notes)
    in_ui = render_markdown(title, chosen_results, intervals, images, candidates, notes)
    storage.atomic_write_bytes(report_dir / "report.md", on_disk.encode())
    payload = {
        "octave": n,
        "selected": chosen,
        "candidates": candidates,
        "results": {f"{c}|{s}": {**r, "intervals": iv} for (c, s), (r, iv) in results.items()},
        "zero_shot_test": zero_shot_test,
        "notes": notes,
    }
    storage.atomic_write_bytes(report_dir / "report.json", json.dumps(payload, indent=2).encode())
    rows = []
    for (cand, s), (r, iv) in results.items():
        rows.append(_evaluation_row(n, cand, cand == chosen, s, r, iv, models, report_dir))
    if zero_shot_test is not None:
        rows.append(_evaluation_row(n, "zero_shot", False, "test", zero_shot_test, {}, None, report_dir))
    frame = pl.DataFrame(rows, schema=catalog.TABLE_SCHEMAS["evaluation_report"])
    written = catalog.write_table_partition(home, "evaluation_report", {OCTAVE: str(n)}, frame)
    inputs = upstream(home, [("trained_classifier", str(n))] + [("splits", k) for k in classes])
    test_res = chosen_results["test"]
    test_ci = intervals.get("test", {})
    return finish(
        context,
        sec=sec,
        partition_key=str(n),
        written=written,
        params={"splits_read": list(EVALUATION_READS), "bootstrap_resamples": cfg.bootstrap_resamples},
        inputs=inputs,
        metadata={
            "candidate": chosen,
            "test_examples": test_res.get("n", 0),
            "test_macro_f1": round(test_res.get("macro_f1", 0.0), 4),
            "test_macro_f1_ci_low": round(test_ci.get("macro_f1", (0.0, 0.0))[0], 4),
            "test_macro_f1_ci_high": round(test_ci.get("macro_f1", (0.0, 0.0))[1], 4),
            "test_mAP": round(test_res.get("mean_average_precision", 0.0), 4),
            "test_accuracy": round(test_res.get("accuracy", 0.0), 4),
            "test_balanced_accuracy": round(test_res.get("balanced_accuracy", 0.0), 4),
            "test_macro_f05": round(test_res.get("macro_f05", 0.0), 4),
            "zero_shot_test_macro_f1": round((zero_shot_test or {}).get("macro_f1", 0.0), 4),
            "report_path": MetadataValue.path(str(report_dir / "report.md")),
            "report": MetadataValue.md(in_ui),
        },
    )


def class_names(home: Path, keys: list[str]) -> list[str]:
    """The classes' original folder names (partition keys are made safe for Dagster)."""
    known = dict(
        catalog.query(home, "SELECT DISTINCT partition_key, audio_class FROM audio_files").iter_rows()
    )
    return [str(known.get(k, k)) for k in keys]


def _zero_shot_on(sec: SecResource, test: SegmentData, names: list[str]) -> tuple[dict | None, str]:
    """The CLAP zero-shot baseline on the same test segments, or why it was skipped."""
    if not len(test):
        return None, "zero-shot baseline: no test segments"
    files = clap.resolve_model_files(sec.models_path, sec.settings.allow_random_init)
    try:
        stat = files.weights.stat()
        model = _text_clap(files, stat.st_mtime_ns, stat.st_size, sec.settings.embed_device)
    except clap.TextModelUnavailable as exc:
        return None, f"zero-shot baseline skipped: text model unavailable ({exc})"
    res = zero_shot.zero_shot(model, test.embedding, test.labels, names)
    flag = " (RANDOM-INIT CLAP: not meaningful)" if files.random_init else ""
    return res, f"zero-shot baseline: prompt '{zero_shot.PROMPT}' on the same test segments{flag}"


@functools.lru_cache(maxsize=1)
def _text_clap(files: clap.ModelFiles, mtime_ns: int, size: int, device: str) -> clap.LoadedClap:
    """One CLAP with its text tower per process (the demo evaluates every octave in one)."""
    return clap.load_clap(files, need_text=True, device=device)


def _evaluation_row(n, candidate, selected, split, r, iv, models, report_dir) -> dict[str, Any]:
    sha = None
    if models is not None:
        sha = models.filter(pl.col("candidate") == candidate)["model_sha256"][0]
    f1_ci, map_ci = iv.get("macro_f1", (None, None)), iv.get("macro_map", (None, None))
    return {
        "octave": n,
        "candidate": candidate,
        "selected": selected,
        "split": split,
        "n": r.get("n", 0),
        "accuracy": r.get("accuracy"),
        "balanced_accuracy": r.get("balanced_accuracy"),
        "macro_precision": r.get("macro_precision"),
        "macro_recall": r.get("macro_recall"),
        "macro_f1": r.get("macro_f1"),
        "macro_f1_ci_low": f1_ci[0],
        "macro_f1_ci_high": f1_ci[1],
        "macro_f05": r.get("macro_f05"),
        "mean_average_precision": r.get("mean_average_precision"),
        "map_ci_low": map_ci[0],
        "map_ci_high": map_ci[1],
        "model_sha256": sha,
        "report_path": str(report_dir / "report.md"),
    }


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
