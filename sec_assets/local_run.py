"""Every asset for every partition in this process (Dagster's embedded executor): what
``sec-assets demo``, the benchmarks and the graph tests run. Library code; imports no CLI module."""

from __future__ import annotations

import time

from sec_assets.core.settings import Settings
from sec_assets.instance import register_classes


def run_everything(settings: Settings, log: bool = True) -> dict[str, object]:
    """Materialize every asset for every partition in-process (the embedded default)."""
    from dagster import DagsterInstance, materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.partitions import class_octave_key
    from sec_assets.resources import SecResource

    classes, _ = register_classes(settings)
    resources = {"sec": SecResource.from_settings(settings)}

    def run(selection: list[str], partition_key: str | None, instance: DagsterInstance) -> None:
        started = time.perf_counter()
        result = materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            instance=instance,
            raise_on_error=True,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if log:
            print(
                f"  {'+'.join(selection):<58} {partition_key or '':<28} "
                f"{'ok' if result.success else 'FAILED'} {time.perf_counter() - started:5.1f} s"
            )

    with DagsterInstance.get() as instance:
        for key in sorted(classes):
            run(["raw_manifest", "splits", "augmented_segments", "clap_embeddings"], key, instance)
            for n in settings.octaves:
                run(["octave_spectrograms"], str(class_octave_key(key, n)), instance)
        for n in settings.octaves:
            run(["trained_classifier", "evaluation_report"], str(n), instance)
        run(["zero_shot_baseline"], None, instance)
        run(["octave_comparison"], None, instance)
    return {"classes": classes}


def label_inbox(settings: Settings, config: dict[str, object] | None = None) -> dict[str, object]:
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
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                **({"ops": {"inbox_predictions": {"config": config}}} if config else {}),
            },
        )
    meta = result.asset_materializations_for_node("inbox_predictions")[0].metadata
    return {k: v.value for k, v in meta.items()}
