"""The landing sensor against a real instance: new class folders add partitions, a class runs
once its files settle (once per burst), a growing file waits, run keys survive a restart, and
removed class folders follow removed_class_policy."""

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from sec_assets.defs.sensors.landing import landing_folder_sensor
from sec_assets.resources import SecResource


def _tick(instance, sec, cursor, apply: bool = True) -> SensorResult:
    result = landing_folder_sensor(
        build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor)
    )
    assert isinstance(result, SensorResult)
    if apply:  # as the daemon does: partition changes first
        for request in result.dynamic_partitions_requests:
            if type(request).__name__ == "AddDynamicPartitionsRequest":
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def _runs(result: SensorResult) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests)


@pytest.fixture
def landing(tmp_path: Path, make_settings, dagster_home):
    root = tmp_path / "landing"
    (root / "dog" / "night").mkdir(parents=True)
    (root / "dog" / "a.wav").write_bytes(b"x")
    (root / "dog" / "night" / "n.wav").write_bytes(b"n")
    (root / "a|b").mkdir()
    (root / "a|b" / "b.wav").write_bytes(b"y")
    return root, make_settings


def test_new_folders_add_partitions_then_run_once_settled(landing):
    root, make_settings = landing
    sec = SecResource.from_settings(make_settings(root))
    with DagsterInstance.get() as instance:
        first = _tick(instance, sec, None)
        added = first.dynamic_partitions_requests[0].partition_keys
        assert added[0].startswith("a_b-") and added[1] == "dog"
        assert not first.run_requests  # first sight: the files may still be arriving
        second = _tick(instance, sec, first.cursor)
        assert _runs(second) == sorted(added) and not second.dynamic_partitions_requests
        quiet = _tick(instance, sec, second.cursor)
        assert not quiet.run_requests and "no class ready" in quiet.skip_reason.skip_message
        # a burst of files over three ticks, in a sub-folder too: one run, after the burst
        cursor = quiet.cursor
        for i in range(3):
            shutil.copy(root / "dog" / "a.wav", root / "dog" / "night" / f"c{i}.wav")
            during = _tick(instance, sec, cursor)
            assert not during.run_requests and "1 settling" in during.skip_reason.skip_message
            cursor = during.cursor
        after = _tick(instance, sec, cursor)
        assert _runs(after) == ["dog"]
        # the daemon restarts and evaluates this tick again from its last stored cursor: the same
        # run key, which it does not launch twice
        assert [r.run_key for r in _tick(instance, sec, cursor).run_requests] == [
            after.run_requests[0].run_key
        ]
        assert not _tick(instance, sec, after.cursor).run_requests


def test_a_growing_file_waits_and_a_deleted_file_reruns_its_class(landing):
    root, make_settings = landing
    sec = SecResource.from_settings(make_settings(root))
    with DagsterInstance.get() as instance:
        state = _tick(instance, sec, _tick(instance, sec, None).cursor)
        growing = root / "dog" / "long.wav"
        cursor = state.cursor
        for size in (100, 200, 300):
            growing.write_bytes(b"g" * size)
            result = _tick(instance, sec, cursor)
            assert not result.run_requests
            cursor = result.cursor
        (root / "dog" / "copying.wav.part").write_bytes(b"p")  # a temporary name: invisible
        stable = _tick(instance, sec, cursor)
        assert _runs(stable) == ["dog"]
        (root / "a|b" / "b.wav").unlink()
        (root / "a|b" / "b2.wav").write_bytes(b"z")
        gone = _tick(instance, sec, _tick(instance, sec, stable.cursor).cursor)
        assert [r.partition_key[:4] for r in gone.run_requests] == ["a_b-"]
        # an empty class folder gets its partition, not a run
        (root / "cat").mkdir()
        empty = _tick(instance, sec, _tick(instance, sec, gone.cursor).cursor)
        assert "cat" in instance.get_dynamic_partitions("audio_class") and not empty.run_requests


@pytest.mark.parametrize("policy", ["keep", "remove"])
def test_a_removed_class_folder_follows_the_policy(landing, policy):
    root, make_settings = landing
    sec = SecResource.from_settings(make_settings(root, removed_class_policy=policy))
    with DagsterInstance.get() as instance:
        settled = _tick(instance, sec, _tick(instance, sec, None).cursor)
        shutil.rmtree(root / "dog")
        after = _tick(instance, sec, settled.cursor)
        partitions = instance.get_dynamic_partitions("audio_class")
        if policy == "remove":
            assert "dog" not in partitions and after.dynamic_partitions_requests[0].partition_keys == ["dog"]
        else:
            assert "dog" in partitions and not after.dynamic_partitions_requests
            assert "1 removed (keep)" in after.skip_reason.skip_message
        (root / "dog").mkdir()  # back again, with its file: a partition (if removed) and one run
        (root / "dog" / "a.wav").write_bytes(b"x")
        back = _tick(instance, sec, _tick(instance, sec, after.cursor).cursor)
        assert _runs(back) == ["dog"] and "dog" in instance.get_dynamic_partitions("audio_class")


def test_an_older_cursor_format_starts_a_fresh_scan(landing):
    root, make_settings = landing
    sec = SecResource.from_settings(make_settings(root))
    with DagsterInstance.get() as instance:
        result = _tick(instance, sec, '{"dog": "0123456789abcdef"}')
        assert not result.run_requests and len(result.dynamic_partitions_requests[0].partition_keys) == 2


@pytest.mark.slow
def test_a_deleted_file_reruns_its_class_and_its_rows_leave_the_catalog(
    demo_dataset, make_settings, dagster_home, tmp_path: Path
):
    from dagster import materialize

    from sec_assets.core.store import catalog
    from sec_assets.defs import ALL_ASSETS

    demo, _ = demo_dataset
    root = tmp_path / "own_landing"
    shutil.copytree(demo / "tone", root / "tone")
    settings = make_settings(root)
    sec = SecResource.from_settings(settings)
    home = settings.home

    def run(result: SensorResult) -> None:
        (request,) = result.run_requests
        assert request.partition_key == "tone"
        done = materialize(
            ALL_ASSETS,
            selection=["raw_manifest", "splits", "augmented_segments", "clap_embeddings"],
            partition_key=request.partition_key,
            resources={"sec": sec},
            instance=instance,
            raise_on_error=True,
        )
        assert done.success
        # progress lines in the run's log (the UI shows them): done/total, percent, rate
        messages = [e.user_message for e in instance.all_logs(done.run_id)]
        for label in ("tone: hashed and graded", "tone: segmented", "tone: embedded"):
            assert any(m.startswith(label) and "(100 %)" in m and "/s" in m for m in messages), label

    def rows(sha: str) -> tuple[int, int, int]:
        return tuple(
            catalog.query(home, f"SELECT count(*) FROM {view} WHERE {column} = '{sha}'").item()
            for view, column in (
                ("audio_files", "sha256"),
                ("segments", "source_sha256"),
                ("embeddings", "source_sha256"),
            )
        )

    with DagsterInstance.get() as instance:
        settled = _tick(instance, sec, _tick(instance, sec, None).cursor)
        run(settled)
        files = catalog.query(home, "SELECT path, sha256 FROM audio_files WHERE status = 'ok' ORDER BY path")
        assert files.height >= 3
        victim, sha = files.row(0)
        assert rows(sha)[0] == 1 and rows(sha)[1] > 0 and rows(sha)[2] == rows(sha)[1]
        segments = catalog.query(home, "SELECT count(*) FROM segments").item()
        Path(victim).unlink()
        seen = _tick(instance, sec, settled.cursor)
        assert not seen.run_requests  # the listing changed: one tick to settle
        again = _tick(instance, sec, seen.cursor)
        run(again)
        assert rows(sha) == (0, 0, 0)
        left = catalog.query(home, "SELECT count(*) FROM audio_files WHERE status = 'ok'").item()
        assert left == files.height - 1
        assert 0 < catalog.query(home, "SELECT count(*) FROM segments").item() < segments
