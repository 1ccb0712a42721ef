"""A new champion gated while clients keep posting: served within a stated time, no failed request,
no answer mixing versions; then a challenger scored in the shadow, never returned, counted."""

from __future__ import annotations

import threading
import time

import mlflow
import polars as pl
import pytest

from sec_assets.core.evaluation.bootstrap import headline
from sec_assets.core.models.data import load_segment_data
from sec_assets.core.serving.request_log import read_served
from sec_assets.core.store import storage
from sec_assets.core.tracking.gate import CHALLENGER, CHAMPION, Thresholds
from sec_assets.core.tracking.registry import TEST_SET_TAG, gate_and_register, score, version_by_alias
from sec_assets.core.tracking.store import tracking

pytestmark = pytest.mark.slow

NAME = "sec-classifier-oct3"
POLL_S = 1.0
SWAP_WITHIN_S = 60.0  # poll + loading the new version beside the old, on a loaded 2-core machine


def _gate(settings, candidate: str, thresholds: Thresholds):
    """Register a candidate of the trained_classifier partition through the real gate."""
    home = settings.home
    models = storage.read_partition(home, "trained_classifier", {"octave": "3"})
    row = models.filter(pl.col("candidate") == candidate).row(0, named=True)
    test = load_segment_data(home, 3, list(row["classes"]), ("test",))
    with tracking(settings.tracking_uri) as client:
        model = mlflow.pyfunc.load_model(row["mlflow_model_uri"])
        proba, columns = score(model, test)
        proba = proba[:, [columns.index(c) for c in test.classes]]
        test_set = version_by_alias(client, NAME, CHAMPION).tags[TEST_SET_TAG]
        return gate_and_register(
            client,
            NAME,
            row["mlflow_model_uri"],
            test,
            proba,
            headline(test.labels, proba),
            thresholds,
            test_set,
            50,
            0,
            {"sec.candidate": candidate},
        )


def test_a_gated_champion_is_served_without_a_failed_or_mixed_request(serve):
    server = serve(serve_poll_seconds=POLL_S, serve_shadow=True)
    settings = server.settings
    clip = next(p for p in (server.root / "landing" / "chirp").rglob("*.wav"))
    models = storage.read_partition(settings.home, "trained_classifier", {"octave": "3"})
    others = models.filter(~pl.col("selected"))["candidate"].to_list()
    answers: list[tuple[float, float, int, dict]] = []
    stop = threading.Event()

    def client_loop() -> None:
        with server.client() as client:
            while not stop.is_set():
                started = time.monotonic()
                with open(clip, "rb") as fh:
                    r = client.post("/v1/classify", files={"file": (clip.name, fh)})
                answers.append((started, time.monotonic(), r.status_code, r.json()))

    clients = [threading.Thread(target=client_loop) for _ in range(2)]
    for t in clients:
        t.start()
    try:
        while len(answers) < 4:
            time.sleep(0.2)
        gated = _gate(settings, others[0], Thresholds(0.0, 0.0, tolerance=1.0))
        gated_at = time.monotonic()
        assert (gated.alias, gated.version) == (CHAMPION, "2"), gated.reason
        while not any(a[3].get("models", [{}])[0].get("model_version") == "2" for a in answers):
            assert time.monotonic() - gated_at < SWAP_WITHIN_S, "the new champion was not served in time"
            time.sleep(0.1)
        swap_s = time.monotonic() - gated_at
        seen = len(answers)
        while len(answers) < seen + 4:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in clients:
            t.join(120)
    print(f"new champion served {swap_s:.1f} s after the gate moved the alias (poll {POLL_S} s)")
    assert all(status == 200 for _, _, status, _ in answers), [a[3] for a in answers if a[2] != 200]
    for _, _, _, body in answers:  # one version per answer, from the first window to the last
        versions = {m["model_version"] for m in body["models"]} | {
            r["model_version"] for r in body["results"]
        }
        assert len(versions) == 1, body
    first_new = min(end for _, end, _, body in answers if body["models"][0]["model_version"] == "2")
    late_old = [
        b for start, _, _, b in answers if start > first_new and b["models"][0]["model_version"] == "1"
    ]
    assert not late_old, "an answer from the old champion after the new one was served"

    # a challenger: scored beside the champion on live requests, never returned, counted
    shadow = _gate(settings, others[1], Thresholds(2.0, 2.0, tolerance=0.0))  # cannot pass
    assert shadow.alias == CHALLENGER
    with server.client() as client:
        deadline = time.monotonic() + SWAP_WITHIN_S
        while not any(m["role"] == "shadow" for m in client.get("/v1/models").json()["models"]):
            assert time.monotonic() < deadline, "the challenger was not loaded for the shadow"
            time.sleep(0.2)
        with open(clip, "rb") as fh:
            body = client.post("/v1/classify", files={"file": (clip.name, fh)}).json()
        assert [r["model_version"] for r in body["results"]] == ["2"]  # the shadow is never returned
        metrics = client.get("/metrics").text
    assert "sec_shadow_windows_total" in metrics
    assert f'sec_model_served{{model="{NAME}",octave="3",role="shadow",version="3"}} 1.0' in metrics
    assert "sec_model_swaps_total 2.0" in metrics
    server.process.terminate()
    server.process.wait(60)
    served = read_served(settings.home)
    last = served.filter(pl.col("request_id") == body["request_id"])
    assert last["shadow_version"].unique().to_list() == ["3"]
    assert last["shadow_top1_probability"].is_not_null().all()
    assert set(served["model_version"]) == {"1", "2"}
