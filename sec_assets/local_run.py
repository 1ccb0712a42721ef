"""Every asset for every partition in this process (Dagster's embedded executor): what
``sec-assets demo``, the benchmarks and the graph tests run. Library code; imports no CLI module."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sec_assets.core.settings import Settings
from sec_assets.instance import register_classes

Runner = Callable[..., float]  # (selection, partition key, instance[, range]) → seconds
CLASS_STEPS = ["raw_manifest", "splits", "augmented_segments", "clap_embeddings"]


def _runner(settings: Settings, log_level: str) -> Runner:
    """Materialize a selection for one partition in-process (raising on error); its seconds."""
    from dagster import materialize

    from sec_assets.defs import ALL_ASSETS
    from sec_assets.partitions import RANGE_END, RANGE_START
    from sec_assets.resources import SecResource

    resources = {"sec": SecResource.from_settings(settings)}
    config = {"loggers": {"console": {"config": {"log_level": log_level}}}}

    def run(
        selection: list[str], partition_key: str | None, instance: Any, span: tuple[str, str] | None = None
    ) -> float:
        started = time.perf_counter()
        materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key=partition_key,
            resources=resources,
            instance=instance,
            raise_on_error=True,
            run_config=config,
            tags={RANGE_START: span[0], RANGE_END: span[1]} if span else None,  # one run, every key
        )
        return time.perf_counter() - started

    return run


def _class_features(run: Runner, instance: Any, key: str, octaves: Sequence[int]) -> tuple[str, float]:
    from sec_assets.partitions import class_octave_key

    seconds = run(CLASS_STEPS, key, instance)
    for n in octaves:
        seconds += run(["octave_spectrograms"], str(class_octave_key(key, n)), instance)
    span = "–".join(dict.fromkeys(f"1/{n}" for n in (octaves[0], octaves[-1])))
    return f"class {key}: files, segments, CLAP, {span}-octave spectrograms", seconds


def _say(log: Callable[[str], None] | None, what: str, seconds: float) -> None:
    if log is not None:
        log(f"  {what:<72} {seconds:6.1f} s")


def _print(line: str) -> None:
    print(line, flush=True)


def run_everything(settings: Settings, log: bool = True, log_level: str = "WARNING") -> dict[str, object]:
    """Materialize every asset for every partition in-process (the embedded default). ``log``: one
    line per class, per octave's training and for the cross-octave assets, with their seconds;
    ``log_level``: the level of Dagster's console logger (the event log keeps everything)."""
    from dagster import DagsterInstance

    classes, _ = register_classes(settings)
    run = _runner(settings, log_level)
    say = _print if log else None
    with DagsterInstance.get() as instance:
        for key in sorted(classes):
            _say(say, *_class_features(run, instance, key, settings.octaves))
        for n in settings.octaves:
            seconds = run(["trained_classifier", "evaluation_report"], str(n), instance)
            _say(say, f"1/{n} octave: {len(settings.candidates)} candidates trained and evaluated", seconds)
        seconds = run(["zero_shot_baseline"], None, instance) + run(["octave_comparison"], None, instance)
        _say(say, "zero-shot baseline, octave comparison", seconds)
    return {"classes": classes}


def blocks(order: Sequence[str], wanted: Iterable[str]) -> list[tuple[str, str]]:
    """The ``wanted`` keys as maximal contiguous (first, last) ranges of ``order`` (the partitions'
    order): one range when every registered class is wanted."""
    want = set(wanted)
    out: list[tuple[str, str]] = []
    previous = False
    for key in order:
        if key not in want:
            previous = False
            continue
        if previous:
            out[-1] = (out[-1][0], key)
        else:
            out.append((key, key))
        previous = True
    return out


def class_features(
    settings: Settings, octaves: Sequence[int], log: Callable[[str], None] | None = _print
) -> float:
    """Every class's features (manifest, splits, segments, CLAP, spectrograms at ``octaves``),
    in-process, one run per step over each contiguous range of the classes (as a backfill chunk
    runs; one range unless partitions of classes no longer present sit between them); partitions
    whose inputs and settings are unchanged are kept, not recomputed. Returns the seconds taken."""
    from dagster import DagsterInstance

    from sec_assets.partitions import AUDIO_CLASS, class_octave_key

    classes, _ = register_classes(settings)
    run = _runner(settings, "WARNING")
    total = 0.0
    with DagsterInstance.get() as instance:
        spans = blocks(instance.get_dynamic_partitions(AUDIO_CLASS), classes)  # a range's order
        for first, last in spans:
            total += run(CLASS_STEPS, None, instance, (first, last))
        _say(log, f"{len(classes)} classes: files, segments, CLAP", total)
        for n in octaves:
            started = total
            for first, last in spans:
                span = (str(class_octave_key(first, n)), str(class_octave_key(last, n)))
                total += run(["octave_spectrograms"], None, instance, span)
            _say(log, f"{len(classes)} classes: 1/{n}-octave spectrograms", total - started)
    return total


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


def materialize_octave(settings: Settings, octave: int) -> float:
    """One octave's models, trained and evaluated in-process (its features must be current);
    the seconds taken."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        return _runner(settings, "WARNING")(
            ["trained_classifier", "evaluation_report"], str(octave), instance
        )
