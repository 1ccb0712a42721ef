"""Inference stage: ``inbox_predictions`` labels the recordings of the inbox with each octave's
``champion`` from the registry — windows, features and scores through the training code path."""

from pathlib import Path

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

from sec_assets.core.devices import use_threads
from sec_assets.core.features import clap_store
from sec_assets.core.hashing import file_sha256
from sec_assets.core.inference import inbox_run
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion
from sec_assets.core.landing.scan import ROOT, listing
from sec_assets.core.serving.loading import featurizer, served_window
from sec_assets.core.tracking.gate import CHAMPION
from sec_assets.core.tracking.registry import registered_name, version_by_alias
from sec_assets.core.tracking.store import tracking
from sec_assets.defs._shared import ALL, asset_boundary, finish, md_table, registered_classes, requests
from sec_assets.defs.evaluation import class_names
from sec_assets.defs.features import _loaded_clap
from sec_assets.resources import SecResource

GROUP = "inference"
ASSET = inbox_run.TABLE


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
    code_version="3",
    group_name=GROUP,
    op_tags=requests(gpus=1),  # CLAP on the windows, as clap_embeddings
    description="Every recording of the inbox (SEC_INBOX) labelled by the champion of each octave "
    "resolution (the registry's `champion` alias): windows of the champion's own training segments "
    "(its logged segment length and hop, unless window_seconds is set), cut, resampled and "
    "featurized by the training code path, top-k labels above min_confidence per window as CSV and "
    "Raven selection tables under predictions/, the catalog view `predictions` (the inbox's "
    "recordings, no others), and a combined table. Resumable: a recording already done with the "
    "same champions and settings is skipped. The `inbox_sensor` runs it for folders that settled.",
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
    keys = registered_classes(context)
    training = cfg.segment_params()
    choice = served_window(cfg, champions)  # the service cuts the same windows
    if choice.warning:
        context.log.warning(choice.warning)
    window = choice.window
    params = window.segment_params(training)
    key = inbox_run.run_key(champions, window, cfg.top_k, cfg.min_confidence, params.sample_rate)
    job = inbox_run.InboxJob(
        home=home,
        folder=folder,
        champions=champions,
        featurizer=_featurizer(sec, champions),
        names=dict(zip(keys, class_names(home, keys), strict=True)),
        params=params,
        key=key,
        top_k=cfg.top_k,
        min_confidence=cfg.min_confidence,
        batch=cfg.inference_batch_windows,
        policy=cfg.file_policy(),
        chosen=None if config.whole_inbox else _confirmed(context, folder, config.folders),
    )
    result = inbox_run.label_inbox(job, context.log.info, context.log.warning)
    failed = pl.DataFrame(result.failures, schema={"path": pl.String, "reason": pl.String}, strict=False)
    return finish(
        context,
        sec=sec,
        partition_key="all",
        written=(result.combined_path, file_sha256(result.combined_path), result.combined.height),
        params={
            "run_key": key,
            "models": [f"{c.name}/{c.version}" for c in champions],
            "window": [window.window_seconds, window.hop_seconds, window.min_window_seconds],
            "window_source": choice.source,
        },
        inputs=[],
        metadata={
            **result.counts,
            "models": ", ".join(f"{c.name} v{c.version}" for c in champions),
            "window": choice.describe(),
            "window_warning": choice.warning or "none",
            "scope": "whole inbox" if job.chosen is None else ", ".join(sorted(config.folders)) or "(none)",
            "seconds": round(result.seconds, 1),
            "real_time_factor": result.real_time_factor,
            "combined": MetadataValue.path(str(result.combined_path)),
            "failed_recordings": md_table(failed.select("path", "reason")),
        },
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
    """The champions, loaded through the registry."""
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
    return featurizer(cfg, model, [c.octave for c in champions])  # the service's, too


ASSETS = [inbox_predictions]
defs = Definitions(assets=ASSETS)
