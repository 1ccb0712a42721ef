"""The served set read from the registry: which versions the aliases name (:func:`lookup`), and
the set loaded for them (:func:`build`) — models through MLflow (``models:/<name>/<version>``, as
any user loads them), CLAP when a model reads embeddings, the band filterbanks of the served
octaves, the champions' windows and the classes' names.

The process serves one home: MLflow's tracking and registry URIs are set once (:func:`use_registry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sec_assets.core.devices import resolve_device
from sec_assets.core.features import clap, clap_store
from sec_assets.core.inference.featurize import Featurizer
from sec_assets.core.inference.label import Champion
from sec_assets.core.inference.windows import WindowChoice, WindowParams, choose_window, logged_window
from sec_assets.core.serving.models import CHAMPION_ROLE, SHADOW_ROLE, Served, ServedModels
from sec_assets.core.settings import Settings
from sec_assets.core.store import catalog
from sec_assets.core.tracking.gate import CHALLENGER, CHAMPION
from sec_assets.core.tracking.registry import registered_name, version_by_alias


def use_registry(settings: Settings) -> None:
    """MLflow's tracking and registry URIs set to this home's, for the process."""
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)


def lookup(settings: Settings) -> tuple[Served, ...]:
    """The versions the aliases name now: each served octave's champion and, with ``serve_shadow``,
    its ``challenger`` when that is another version."""
    import mlflow

    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    found: list[Served] = []
    for n in settings.inference_octaves or settings.octaves:
        name = registered_name(settings.registered_model_prefix, n)
        champion = version_by_alias(client, name, CHAMPION)
        if champion is None:
            continue
        found.append(Served(n, name, str(champion.version), CHAMPION_ROLE))
        if settings.serve_shadow:
            challenger = version_by_alias(client, name, CHALLENGER)
            if challenger is not None and str(challenger.version) != str(champion.version):
                found.append(Served(n, name, str(challenger.version), SHADOW_ROLE))
    return tuple(found)


def build(settings: Settings, versions: tuple[Served, ...], before: ServedModels | None) -> ServedModels:
    """Load the set for ``versions``; models and CLAP already held by ``before`` are reused."""
    import mlflow

    held = {(c.name, c.version): c.model for c in (before.champions + before.shadows)} if before else {}

    def load(v: Served) -> Champion:
        model = held.get((v.name, v.version)) or mlflow.pyfunc.load_model(f"models:/{v.name}/{v.version}")
        return Champion(v.octave, v.name, v.version, model)

    champions = tuple(load(v) for v in versions if v.role == CHAMPION_ROLE)
    shadows = tuple(load(v) for v in versions if v.role == SHADOW_ROLE)
    every = champions + shadows
    reads_clap = any("embedding" in _inputs(c.model) for c in every)
    model = None
    if reads_clap:
        model = (
            before.featurizer.model if before is not None and before.featurizer.model is not None else None
        )
        if model is None:
            model = load_clap(settings)
    choice = served_window(settings, champions)
    return ServedModels(
        champions=champions,
        shadows=shadows,
        featurizer=featurizer(settings, model, sorted({c.octave for c in champions})),
        params=choice.window.segment_params(settings.segment_params()),
        window_source=choice.source,
        window_warning=choice.warning,
        names=class_names(settings.home, sorted({k for c in every for k in _classes(c.model)})),
    )


def served_window(settings: Settings, champions: Sequence[Champion]) -> WindowChoice:
    """The windows to cut, as the inbox chooses them: the champions' own training segments unless
    set by hand (:func:`~sec_assets.core.inference.windows.choose_window`)."""
    import mlflow

    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    logged = {
        f"{c.name} v{c.version}": logged_window(client, client.get_model_version(c.name, c.version))
        for c in sorted(champions, key=lambda c: c.octave)
    }
    return choose_window(
        logged,
        settings.window_seconds,
        settings.window_hop_seconds,
        settings.min_window_seconds,
        WindowParams.of_segments(settings.segment_params()),
    )


def load_clap(settings: Settings) -> clap.LoadedClap:
    files = clap_store.resolve_model_files(settings.model_store, settings.allow_random_init)
    return clap.load_clap(
        files, device=resolve_device(settings.embed_device), precision=settings.embed_precision
    )


def featurizer(settings: Settings, model: clap.LoadedClap | None, octaves: Sequence[int]) -> Featurizer:
    """The inbox's and the service's featurizer: CLAP (or none) and the octaves' filterbanks."""
    spec = settings.spectrograms
    return Featurizer(
        model,
        [settings.level_params(n) for n in octaves],
        spectrogram_device=resolve_device(spec.spectrogram_device),
        spectrogram_batch=spec.spectrogram_batch_size,
        forward_batch=settings.embed_batch_size
        if model is None or model.device == "cpu"
        else clap.gpu_batch_size(model.device),
        workers=settings.embed_workers,
    )


def class_names(home: Path, keys: Sequence[str]) -> dict[str, str]:
    """Class key → the class's original folder name (the key itself when the catalog has none)."""
    known = dict(
        catalog.query(home, "SELECT DISTINCT partition_key, audio_class FROM audio_files").iter_rows()
    )
    return {k: str(known.get(k, k)) for k in keys}


def _inputs(model: object) -> list[str]:
    schema = model.metadata.get_input_schema()  # type: ignore[attr-defined]
    return list(schema.input_names()) if schema is not None else ["embedding", "levels_db"]


def _classes(model: object) -> list[str]:
    schema = model.metadata.get_output_schema()  # type: ignore[attr-defined]
    return [str(n) for n in schema.input_names()] if schema is not None else []
