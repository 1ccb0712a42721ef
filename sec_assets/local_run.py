"""Every asset for every partition in this process (Dagster's embedded executor): what
``sec-assets demo``, the benchmarks and the graph tests run. Library code; imports no CLI module."""

from __future__ import annotations

import time

from sec_assets.core.settings import Settings
from sec_assets.instance import register_classes


def run_everything(settings: Settings, log: bool = True, log_level: str = "WARNING") -> dict[str, object]:
    """Materialize every asset for every partition in-process (the embedded default). ``log``: one
    line per class, per octave's training and for the cross-octave assets, with their seconds;
    ``log_level``: the level of Dagster's console logger (the event log keeps everything)."""
    from dagster import DagsterInstance, materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.partitions import class_octave_key
    from sec_assets.resources import SecResource

    classes, _ = register_classes(settings)
    resources = {"sec": SecResource.from_settings(settings)}
    loggers = {"loggers": {"console": {"config": {"log_level": log_level}}}}

    def run(selection: list[str], partition_key: str | None, instance: DagsterInstance) -> float:
        started = time.perf_counter()
        materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            instance=instance,
            raise_on_error=True,
            run_config=loggers,
        )
        return time.perf_counter() - started

    def say(what: str, seconds: float) -> None:
        if log:
            print(f"  {what:<72} {seconds:6.1f} s", flush=True)

    octaves = "–".join(dict.fromkeys(f"1/{n}" for n in (settings.octaves[0], settings.octaves[-1])))
    with DagsterInstance.get() as instance:
        for key in sorted(classes):
            seconds = run(["raw_manifest", "splits", "augmented_segments", "clap_embeddings"], key, instance)
            for n in settings.octaves:
                seconds += run(["octave_spectrograms"], str(class_octave_key(key, n)), instance)
            say(f"class {key}: files, segments, CLAP, {octaves}-octave spectrograms", seconds)
        for n in settings.octaves:
            seconds = run(["trained_classifier", "evaluation_report"], str(n), instance)
            say(f"1/{n} octave: {len(settings.candidates)} candidates trained and evaluated", seconds)
        seconds = run(["zero_shot_baseline"], None, instance) + run(["octave_comparison"], None, instance)
        say("zero-shot baseline, octave comparison", seconds)
    return {"classes": classes}


def label_inbox(
    settings: Settings, config: dict[str, object] | None = None, log_level: str = "WARNING"
) -> dict[str, object]:
    """Materialize ``inbox_predictions`` in-process (``config``: its run config, as the inbox
    sensor sends it; default the whole inbox); its metadata."""
    from dagster import DagsterInstance, materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.resources import SecResource

    with DagsterInstance.get() as instance:
        result = materialize(
            ALL_ASSETS,
            selection=["inbox_predictions"],
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=True,
            run_config={
                "loggers": {"console": {"config": {"log_level": log_level}}},
                **({"ops": {"inbox_predictions": {"config": config}}} if config else {}),
            },
        )
    meta = result.asset_materializations_for_node("inbox_predictions")[0].metadata
    return {k: v.value for k, v in meta.items()}
