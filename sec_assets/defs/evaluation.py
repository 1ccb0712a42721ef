"""Evaluation stage: the per-octave ``evaluation_report`` on the held-out splits, which also
registers the selected model and runs the champion gate. The CLAP ``zero_shot_baseline`` is in
:mod:`.baselines`, the ``octave_comparison`` over all octaves in :mod:`.comparison`."""

import dataclasses
import functools
import io
import json
from pathlib import Path
from typing import Any

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
from sec_assets.core.datasets.source import protocol_line
from sec_assets.core.evaluation.bootstrap import STATISTICS, file_bootstrap, headline
from sec_assets.core.evaluation.figures import confusion_png
from sec_assets.core.evaluation.metrics import evaluate
from sec_assets.core.evaluation.report import data_uri, render_markdown
from sec_assets.core.features import clap, clap_store
from sec_assets.core.models import zero_shot
from sec_assets.core.models.data import SegmentData, load_segment_data, split_rows
from sec_assets.core.models.learn import TrainedModel
from sec_assets.core.store import catalog, schemas, storage
from sec_assets.core.tracking.gate import CHAMPION, Thresholds
from sec_assets.core.tracking.registry import Registration, gate_and_register, registered_name
from sec_assets.core.tracking.runs import log_evaluation
from sec_assets.core.tracking.store import model_link, tracking, ui_base
from sec_assets.defs._shared import (
    ALL,
    BY_OCTAVE,
    asset_boundary,
    finish,
    mlflow_metadata,
    upstream,
)
from sec_assets.partitions import OCTAVE, octave_partitions
from sec_assets.resources import SecResource

GROUP = "evaluation"
EVALUATION_READS = ("valid", "test")  # the held-out splits; no other asset reads test
CHANCE_COLUMNS = ("valid_above_chance", "valid_chance_macro_f1", "valid_null_macro_f1_p95")


@asset(
    partitions_def=octave_partitions,
    deps=[
        AssetDep("trained_classifier"),
        AssetDep("splits", partition_mapping=ALL),
        AssetDep("clap_embeddings", partition_mapping=ALL),
        AssetDep("octave_spectrograms", partition_mapping=BY_OCTAVE),
    ],
    code_version="5",
    group_name=GROUP,
    description="The selected model and every candidate on the held-out valid and test splits "
    "(clean segments; the only asset that reads test): accuracy, balanced accuracy, macro-F1 / "
    "F0.5, macro mAP with 95 % bootstrap intervals resampled by source file, per-class figures under "
    "the classes' names, each candidate's validation macro-F1 against chance (a warning for one that is "
    "not clearly above it), the confusion matrix (PNG), top confusions with example segments, and the "
    "CLAP zero-shot baseline on the same test set. Markdown + JSON + PNG under reports/, logged "
    "to MLflow; the selected model is registered as sec-classifier-oct<n> and gets the `champion` "
    "alias only if it passes the gate (thresholds, and not worse than the champion on the same "
    "test set by a paired bootstrap), else `challenger` with the reason.",
    kinds={"mlflow", "parquet", "duckdb"},
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
    test_proba: dict[str, np.ndarray] = {}
    for row in models.iter_rows(named=True):
        model = TrainedModel.from_bytes(Path(row["model_path"]).read_bytes())
        test = held_out["test"]
        proba = {s: model.probabilities(part) for s, part in held_out.items()}
        ci = file_bootstrap(test.labels, proba["test"], test.source_sha256, cfg.bootstrap_resamples, cfg.seed)
        figures = headline(test.labels, proba["test"]) if len(test) else dict.fromkeys(STATISTICS, 0.0)
        test_proba[row["candidate"]] = proba["test"]
        candidates.append(
            {
                "candidate": row["candidate"],
                "selected": row["selected"],
                "valid_macro_f1": row["valid_macro_f1"],
                # absent from partitions trained before the chance check (None: not judged)
                **{k: row.get(k) for k in CHANCE_COLUMNS},
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
    test = held_out["test"]
    assigned = split_rows(home, classes)
    test_set = fingerprint(assigned, classes, ("test",))
    groups = assigned["source_group"].drop_nulls().n_unique() if "source_group" in assigned.columns else 0
    predictions = _predictions_frame(test, test_proba[chosen])
    buf = io.BytesIO()
    predictions.write_parquet(buf)
    storage.atomic_write_bytes(report_dir / "test_predictions.parquet", buf.getvalue())
    registration = _gate(context, sec, n, selected, test, test_proba[chosen], test_set)
    chosen_results = {s: results[(chosen, s)][0] for s in EVALUATION_READS}
    if zero_shot_test is not None:
        chosen_results["test, CLAP zero-shot baseline (no training)"] = zero_shot_test
    notes = [
        f"splits: {protocol_line(cfg.dataset(), groups)}",
        f"selected on validation macro-F1 among {len(candidates)} candidates; test read here only",
        f"95 % intervals: {cfg.bootstrap_resamples} bootstrap resamples of the source files",
        zs_note,
        f"registry: {registration.name} v{registration.version} is `{registration.alias}`: "
        f"{registration.reason}",
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
        "registry": dataclasses.asdict(registration),
        "test_set_fingerprint": test_set,
        "notes": notes,
    }
    storage.atomic_write_bytes(report_dir / "report.json", json.dumps(payload, indent=2).encode())
    _log_to_mlflow(sec, models, results, report_dir, files)
    rows = []
    for (cand, s), (r, iv) in results.items():
        rows.append(_evaluation_row(n, cand, cand == chosen, s, r, iv, models, report_dir))
    if zero_shot_test is not None:
        rows.append(_evaluation_row(n, "zero_shot", False, "test", zero_shot_test, {}, None, report_dir))
    frame = pl.DataFrame(rows, schema=schemas.TABLE_SCHEMAS["evaluation_report"])
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
            "test_set_fingerprint": test_set,
            "registered_model": registration.name,
            "registered_version": registration.version,
            "alias": registration.alias,
            "gate": registration.reason,
            "champion_before": registration.champion_before or "none",
            **_registry_link(sec, registration),
            **mlflow_metadata(cfg, selected["mlflow_experiment_id"], selected["mlflow_parent_run_id"]),
            "report_path": MetadataValue.path(str(report_dir / "report.md")),
            "report": MetadataValue.md(in_ui),
        },
    )


def _predictions_frame(test: SegmentData, proba: np.ndarray) -> pl.DataFrame:
    """The selected model's test predictions (what a loaded registry model must reproduce)."""
    return pl.DataFrame(
        {
            "segment_key": test.segment_keys,
            "source_sha256": test.source_sha256,
            "label": [test.classes[i] for i in test.labels],
            "predicted": [test.classes[i] for i in proba.argmax(axis=1)] if len(test) else [],
            "probabilities": proba.tolist(),
        },
        schema={
            "segment_key": pl.String,
            "source_sha256": pl.String,
            "label": pl.String,
            "predicted": pl.String,
            "probabilities": pl.List(pl.Float64),
        },
    )


def _gate(
    context: AssetExecutionContext,
    sec: SecResource,
    n: int,
    selected: dict[str, Any],
    test: SegmentData,
    proba: np.ndarray,
    test_set: str,
) -> Registration:
    """Register the selected model as a version of ``<prefix>-oct<n>``; the gate moves the aliases."""
    cfg = sec.settings
    if not selected.get("mlflow_model_uri"):
        raise Failure(
            f"1/{n}: the trained_classifier partition predates MLflow tracking (no logged model): "
            "re-materialize trained_classifier",
            allow_retries=False,
        )
    thresholds = Thresholds(cfg.gate_min_test_map, cfg.gate_min_test_macro_f1, cfg.gate_tolerance)
    figures = headline(test.labels, proba) if len(test) else dict.fromkeys(STATISTICS, 0.0)
    with tracking(cfg.tracking_uri) as client:
        registration = gate_and_register(
            client,
            registered_name(cfg.registered_model_prefix, n),
            selected["mlflow_model_uri"],
            test,
            proba,
            figures,
            thresholds,
            test_set,
            cfg.bootstrap_resamples,
            cfg.seed,
            {
                "sec.candidate": selected["candidate"],
                "sec.model_sha256": selected["model_sha256"],
                "dagster.run_id": context.run_id,
                "sec.splits": selected["splits_fingerprint"],
            },
        )
    log = context.log.info if registration.alias == CHAMPION else context.log.warning
    log(f"1/{n}: {registration.name} v{registration.version} → {registration.alias}: {registration.reason}")
    return registration


def _log_to_mlflow(sec: SecResource, models: pl.DataFrame, results: dict, report_dir: Path, files) -> None:
    """Valid and test figures on each candidate's child run; the report's files on the parent."""
    figures: dict[str, dict[str, float]] = {}
    for (cand, split), (res, iv) in results.items():
        out = figures.setdefault(cand, {})
        for key in ("accuracy", "balanced_accuracy", "macro_f1", "macro_f05", "mean_average_precision"):
            if res.get(key) is not None:
                out[f"{split}_{key}"] = res[key]
        for key, (low, high) in iv.items():
            if low == low:  # not NaN
                name = "mean_average_precision" if key == "macro_map" else key
                out[f"{split}_{name}_ci_low"], out[f"{split}_{name}_ci_high"] = low, high
    children = dict(models.select("candidate", "mlflow_run_id").iter_rows())
    parent = models["mlflow_parent_run_id"][0]
    names = ["report.md", "report.json", "test_predictions.parquet", *files.values()]
    with tracking(sec.settings.tracking_uri) as client:
        log_evaluation(client, parent, figures, children, [report_dir / f for f in names])


def _registry_link(sec: SecResource, registration: Registration) -> dict[str, Any]:
    cfg = sec.settings
    link = model_link(ui_base(cfg.tracking_uri, cfg.mlflow_ui_url), registration.name, registration.version)
    return {"registered_model_version": MetadataValue.url(link)} if link else {}


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
    files = clap_store.resolve_model_files(sec.models_path, sec.settings.allow_random_init)
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


ASSETS = [evaluation_report]
defs = Definitions(assets=ASSETS)
