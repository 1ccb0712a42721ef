"""A correction posted to the service becomes training data: the clip lands in the landing folder
under its class with its provenance, and the landing sensor requests that class's run (and no
other); the review sample keeps clip and answer."""

from __future__ import annotations

import json

import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context

from sec_assets.defs.sensors.landing import landing_folder_sensor
from sec_assets.resources import SecResource

pytestmark = pytest.mark.slow


def _tick(instance, sec, cursor) -> SensorResult:
    result = landing_folder_sensor(
        build_sensor_context(instance=instance, resources={"sec": sec}, cursor=cursor)
    )
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests:  # as the daemon does
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_a_correction_lands_under_its_class_and_the_sensor_runs_that_class(serve, dagster_home):
    server = serve(review_fraction=1.0)
    landing = server.root / "landing"
    clip = next(p for p in (landing / "tone").rglob("*.wav"))
    sec = SecResource.from_settings(server.settings)
    with DagsterInstance.get() as instance:
        cursor = None
        for _ in range(2):  # first sight of every class: the catalog holds them all, unchanged
            result = _tick(instance, sec, cursor)
            assert not result.run_requests
            cursor = result.cursor
        with server.client() as client:
            with open(clip, "rb") as fh:
                answer = client.post("/v1/classify", files={"file": (clip.name, fh)}).json()
            rid = answer["request_id"]
            assert answer["review_sample"] is True
            wrong = answer["results"][0]["labels"][0]["label"]
            right = "chirp" if wrong != "chirp" else "click"
            response = client.post("/v1/feedback", json={"request_id": rid, "label": right, "octave": 3})
            assert response.status_code == 200, response.text
            filed = response.json()
            none = client.post("/v1/feedback", json={"request_id": rid, "none_of_these": True})
            owl = client.post("/v1/feedback", json={"request_id": rid, "label": "owl"})
        landed = landing / right / f"feedback-{rid}.wav"
        assert filed == {
            "request_id": rid,
            "into_training": True,
            "class": right,
            "path": str(landed),
            "provenance": str(landing / right / ".provenance" / f"feedback-{rid}.wav.json"),
            "reason": "a new example of its class",
        }
        assert landed.read_bytes() == clip.read_bytes()  # the clip as posted, byte for byte
        provenance = json.loads((landing / right / ".provenance" / f"feedback-{rid}.wav.json").read_text())
        assert provenance["answer"]["request_id"] == rid and provenance["label"] == right
        assert none.status_code == 200 and none.json()["into_training"] is False
        assert owl.status_code == 409 and "feedback_new_classes" in owl.json()["reason"]
        assert not (landing / "owl").exists()
        review = server.settings.home / "service" / "review"
        assert [p.name for p in sorted(review.rglob(f"{rid}.*"))] == [f"{rid}.json", f"{rid}.wav"]
        # the landing sensor: the class settles, then one run of that class
        settling = _tick(instance, sec, cursor)
        assert not settling.run_requests
        ran = _tick(instance, sec, settling.cursor)
        assert sorted(r.partition_key for r in ran.run_requests) == [right]
