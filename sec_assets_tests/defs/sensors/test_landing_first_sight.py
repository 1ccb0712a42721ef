"""The landing sensor's first sight of a class (a fresh cursor, a fresh instance over an existing
home) against real materializations: a class the catalog holds as its folder stands gets no run,
and the tick says so; a changed file, a new file, a class without a manifest or a class whose job
stopped after its manifest gets one."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from dagster import DagsterInstance, SensorResult, build_sensor_context, materialize

from sec_assets.core.settings import load_settings
from sec_assets.defs import ALL_ASSETS
from sec_assets.defs.sensors.landing import CLASS_FEATURES, landing_folder_sensor
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _wav(path: Path, freq: float, seconds: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(freq, int(16000 * seconds), 16000).astype(np.float32), 16000)


def _landing(tmp_path: Path, models: Path) -> tuple[Path, SecResource]:
    root = tmp_path / "landing"
    for i, name in enumerate(("bird", "dog")):
        _wav(root / name / "0.wav", 300 + 100 * i)
        _wav(root / name / "night" / "1.wav", 350 + 100 * i)
    settings = load_settings(
        env={},
        home=tmp_path / "home",
        audio_root=root,
        models=models,
        allow_random_init=True,
        audio_formats=("wav",),
        segment_seconds=1.0,
    )
    return root, SecResource.from_settings(settings)


def _materialize(instance: DagsterInstance, sec: SecResource, selection: list[str]) -> None:
    """One run over both classes (a partition range, as a backfill launches them)."""
    instance.add_dynamic_partitions("audio_class", ["bird", "dog"])
    result = materialize(
        ALL_ASSETS,
        selection=selection,
        resources={"sec": sec},
        instance=instance,
        tags={"dagster/asset_partition_range_start": "bird", "dagster/asset_partition_range_end": "dog"},
        raise_on_error=True,
        run_config=QUIET,
    )
    assert result.success


def _fresh_cursor(instance: DagsterInstance, sec: SecResource) -> tuple[SensorResult, SensorResult]:
    """Two ticks from no cursor (the second is the first on which folders have settled); the
    partitions the first adds are added, as the daemon does."""
    ticks = []
    cursor = None
    for _ in range(2):
        result = landing_folder_sensor(
            build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor)
        )
        assert isinstance(result, SensorResult)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        ticks.append(result)
        cursor = result.cursor
    return ticks[0], ticks[1]


def _runs(result: SensorResult) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests)


def _message(result: SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


def test_a_class_whose_job_stopped_after_its_manifest_or_without_one_runs(tmp_path, dagster_home, capfd):
    root, sec = _landing(tmp_path, tmp_path / "no_models")  # raw_manifest needs no model
    with DagsterInstance.get() as instance:
        _materialize(instance, sec, ["raw_manifest"])
        _wav(root / "cat" / "0.wav", 700)  # a class never materialized
        first, settled = _fresh_cursor(instance, sec)
        assert not first.run_requests and first.dynamic_partitions_requests[0].partition_keys == ["cat"]
        assert _runs(settled) == ["bird", "cat", "dog"]
        assert not settled.skip_reason  # it requested runs; the summary is in the log (stderr)
        assert (
            "3 class run(s) (first sight: 2 with a later step missing or older than its inputs, "
            "1 without a manifest), 0 unchanged since their manifest" in capfd.readouterr().err
        )


@pytest.mark.slow
def test_a_fresh_cursor_over_materialized_classes_runs_only_what_changed(
    tmp_path, model_store, dagster_home, capfd
):
    root, sec = _landing(tmp_path, model_store)
    with DagsterInstance.get() as instance:
        _materialize(instance, sec, CLASS_FEATURES)
        first, settled = _fresh_cursor(instance, sec)
        assert not first.run_requests and not first.dynamic_partitions_requests  # both registered
        assert not settled.run_requests
        assert _message(settled).startswith(
            "no class ready: 0 class run(s), 2 unchanged since their manifest,"
        )
        quiet = landing_folder_sensor(
            build_sensor_context(instance=instance, resources={"sec": sec}, cursor=settled.cursor)
        )
        assert not quiet.run_requests and "0 unchanged since their manifest" in _message(quiet)

    # a fresh instance over the same home: the partitions are added, still no run
    (tmp_path / "other_dagster_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "other_dagster_home")) as fresh:
        first, settled = _fresh_cursor(fresh, sec)
        assert first.dynamic_partitions_requests[0].partition_keys == ["bird", "dog"]
        assert sorted(fresh.get_dynamic_partitions("audio_class")) == ["bird", "dog"]
        assert not settled.run_requests and "2 unchanged since their manifest" in _message(settled)

    with DagsterInstance.get() as instance:
        _wav(root / "bird" / "0.wav", 300, seconds=1.5)  # new content, new size
        (root / "dog" / ".DS_Store").write_bytes(b"hidden")  # neither of these is in a manifest
        (root / "dog" / "night" / "notes.txt").write_text("not audio (audio_formats: wav)")
        _wav(root / "cat" / "0.wav", 700)  # a class without a manifest
        capfd.readouterr()
        _, settled = _fresh_cursor(instance, sec)
        assert _runs(settled) == ["bird", "cat"]
        assert (
            "2 class run(s) (first sight: 1 with files changed since their manifest, 1 without a "
            "manifest), 1 unchanged since their manifest" in capfd.readouterr().err
        )
        _wav(root / "dog" / "night" / "2.wav", 800)  # a file added
        _, settled = _fresh_cursor(instance, sec)
        assert _runs(settled) == ["bird", "cat", "dog"]
