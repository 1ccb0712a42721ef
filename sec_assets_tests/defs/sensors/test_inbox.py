"""The inbox sensor against a real instance and a real (SQLite) model registry: folders are
labelled once settled, a growing file waits, run keys survive a restart, a new champion relabels
the whole inbox and a removed folder requests the run that drops its labels."""

from pathlib import Path

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from sec_assets.core.landing.scan import ROOT, listing
from sec_assets.core.tracking.gate import CHAMPION
from sec_assets.core.tracking.registry import registered_name
from sec_assets.core.tracking.store import tracking
from sec_assets.defs.sensors.inbox import inbox_sensor
from sec_assets.resources import SecResource


def _champion(settings, octave: int) -> str:
    """Register one more version of the octave's model and make it the champion (no training:
    the sensor reads names and versions only)."""
    name = registered_name(settings.registered_model_prefix, octave)
    with tracking(settings.tracking_uri) as client:
        if not client.search_registered_models(f"name = '{name}'"):
            client.create_registered_model(name)
        version = client.create_model_version(name, source=str(settings.home / "model"))
        client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)


def _tick(instance, sec, cursor):
    result = inbox_sensor(build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor))
    assert isinstance(result, SensorResult)
    return result


def _config(result) -> dict:
    (request,) = result.run_requests
    return request.run_config["ops"]["inbox_predictions"]["config"]


@pytest.fixture
def inbox(tmp_path: Path, make_settings, dagster_home):
    box = tmp_path / "inbox"
    (box / "site_a").mkdir(parents=True)
    (box / "site_a" / "r1.wav").write_bytes(b"one")
    (box / "r0.wav").write_bytes(b"zero")
    settings = make_settings(tmp_path / "landing", octaves=(1, 3), inbox=box)
    return box, settings, SecResource.from_settings(settings)


def test_settled_folders_are_labelled_once_and_a_growing_file_waits(inbox):
    box, settings, sec = inbox
    with DagsterInstance.get() as instance:
        first = _tick(instance, sec, None)
        assert not first.run_requests and "no champion" in first.skip_reason.skip_message
        _champion(settings, 3)
        second = _tick(instance, sec, first.cursor)  # settled now, and a champion: one run
        config = _config(second)
        assert config == {
            "whole_inbox": False,
            "folders": {ROOT: listing(box)[0], "site_a": listing(box / "site_a")[0]},
        }
        key = second.run_requests[0].run_key
        assert not _tick(instance, sec, second.cursor).run_requests  # nothing new: nothing sent
        # a file growing over three ticks: its folder waits until a tick finds it unchanged
        growing = box / "site_a" / "long.wav"
        cursor = second.cursor
        for size in (10, 20, 30):
            growing.write_bytes(b"g" * size)
            result = _tick(instance, sec, cursor)
            assert not result.run_requests and "waiting for 1 folder" in result.skip_reason.skip_message
            cursor = result.cursor
        settled = _tick(instance, sec, cursor)
        assert _config(settled)["folders"] == {"site_a": listing(box / "site_a")[0]}
        # the daemon restarts and evaluates again from the cursor it had stored: the same run key,
        # which the daemon does not launch twice
        assert _tick(instance, sec, cursor).run_requests[0].run_key == settled.run_requests[0].run_key
        assert settled.run_requests[0].run_key != key
        # temporary names never count
        (box / "upload.wav.part").write_bytes(b"p")
        (box / ".sync.wav").write_bytes(b"h")
        quiet = _tick(instance, sec, _tick(instance, sec, settled.cursor).cursor)
        assert not quiet.run_requests


def test_a_new_champion_relabels_everything_and_a_removed_folder_is_sent(inbox):
    box, settings, sec = inbox
    _champion(settings, 1)
    with DagsterInstance.get() as instance:
        sent = _tick(instance, sec, _tick(instance, sec, None).cursor)
        assert set(_config(sent)["folders"]) == {ROOT, "site_a"}
        assert _champion(settings, 3) == "1"  # 1/3 gets its first champion
        again = _tick(instance, sec, sent.cursor)
        assert set(_config(again)["folders"]) == {ROOT, "site_a"}
        (box / "site_a" / "r1.wav").unlink()
        (box / "site_a").rmdir()
        gone = _tick(instance, sec, again.cursor)
        # the top folder's files did not change: only the removal is sent (the run drops its labels)
        assert _config(gone) == {"whole_inbox": False, "folders": {}}
        assert gone.run_requests[0].tags["sec/inbox_gone"] == "1"
        assert not _tick(instance, sec, gone.cursor).run_requests


def test_no_inbox_folder_is_a_reason_not_an_error(tmp_path: Path, make_settings, dagster_home):
    settings = make_settings(tmp_path / "landing", inbox=tmp_path / "missing")
    with DagsterInstance.get() as instance:
        result = _tick(instance, SecResource.from_settings(settings), None)
    assert (
        "no inbox folder" in result.skip_reason.skip_message
        and "SEC_INBOX" in result.skip_reason.skip_message
    )
