"""Dropping audio into the landing folder adds partitions and requests the class job."""

import shutil
from pathlib import Path

from dagster import DagsterInstance, SensorResult, build_sensor_context

from sec_assets.defs.automation import landing_folder_sensor
from sec_assets.resources import SecResource


def test_landing_sensor_adds_partitions_and_requests_runs(tmp_path: Path, dagster_home, make_settings):
    landing = tmp_path / "landing"
    (landing / "dog").mkdir(parents=True)
    (landing / "dog" / "a.wav").write_bytes(b"x")
    (landing / "a|b").mkdir()
    (landing / "a|b" / "b.wav").write_bytes(b"y")
    sec = SecResource.from_settings(make_settings(landing))
    with DagsterInstance.get() as instance:
        ctx = build_sensor_context(instance=instance, resources={"sec": sec})
        first = landing_folder_sensor(ctx)
        assert isinstance(first, SensorResult)
        added = first.dynamic_partitions_requests[0].partition_keys
        assert added[0].startswith("a_b-") and added[1] == "dog"
        assert sorted(r.partition_key for r in first.run_requests) == sorted(added)
        # apply the additions as the daemon would, then tick again with the cursor: nothing new
        instance.add_dynamic_partitions("audio_class", list(added))
        second = landing_folder_sensor(
            build_sensor_context(instance=instance, resources={"sec": sec}, cursor=first.cursor)
        )
        assert not isinstance(second, SensorResult)
        # new audio in an existing class → one run for that class, no new partition
        shutil.copy(landing / "dog" / "a.wav", landing / "dog" / "c.wav")
        third = landing_folder_sensor(
            build_sensor_context(instance=instance, resources={"sec": sec}, cursor=first.cursor)
        )
        assert isinstance(third, SensorResult)
        assert [r.partition_key for r in third.run_requests] == ["dog"]
        assert not third.dynamic_partitions_requests
