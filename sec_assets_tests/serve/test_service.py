"""``sec-assets serve`` as a real server on loopback, over a copy of a trained demo home: the demo's
test files get exactly the inbox path's probabilities; 30 bad requests get 4xx with reasons and
the service still answers; a token guards /v1; metrics and the served-request log count it all."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import polars as pl
import pytest

from sec_assets.core.serving.request_log import read_served
from sec_assets.core.store import catalog
from sec_assets.local_run import label_inbox
from sec_assets.testing.bad_audio import write_bad_inputs

pytestmark = pytest.mark.slow


def _test_files(home: Path) -> pl.DataFrame:
    return catalog.query(
        home,
        "SELECT a.path, a.sha256 FROM audio_files a JOIN splits s ON s.source_sha256 = a.sha256 "
        "AND s.partition_key = a.partition_key WHERE s.split = 'test' AND a.status = 'ok' ORDER BY a.path",
    )


def _post(client: httpx.Client, path: Path, **params) -> httpx.Response:
    with open(path, "rb") as fh:
        return client.post("/v1/classify", files={"file": (path.name, fh)}, params=params)


def test_the_demo_test_files_get_the_inbox_paths_probabilities(serve, trained, tmp_path, monkeypatch):
    server = serve(token="s3cret")
    home = server.settings.home
    files = _test_files(home)
    assert files.height >= 5
    # the copy's files, as a field app would post them
    paths = [server.root / "landing" / Path(p).relative_to(trained.root / "landing") for p in files["path"]]
    with server.client() as client:
        answers = {}
        for path, sha in zip(paths, files["sha256"], strict=True):
            response = _post(client, path)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["clip"]["sha256"] == sha
            assert [m["model_version"] for m in body["models"]] == ["1"]
            answers[sha] = body
        assert len({b["request_id"] for b in answers.values()}) == len(answers)
    # the inbox path over the same files
    inbox = tmp_path / "inbox"
    for path in paths:
        (inbox / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, inbox / path.parent.name / path.name)
    settings = server.settings.model_copy(update={"inbox": inbox})
    monkeypatch.setenv("DAGSTER_HOME", str(trained.dagster_home))  # the instance knows the classes
    label_inbox(settings)
    rows = pl.read_parquet(home / "predictions" / "combined.parquet")
    compared = 0
    for sha, body in answers.items():
        (result,) = body["results"]
        assert (result["octave"], result["model"], result["model_version"]) == (3, "sec-classifier-oct3", "1")
        mine = rows.filter(pl.col("recording_sha256") == sha).sort("window_index", "rank")
        assert mine["start_s"].unique().len() == len(result["windows"]) == body["clip"]["windows"]
        for window in result["windows"]:
            expected = mine.filter(pl.col("window_index") == window["index"])
            got = [(x["label_key"], x["probability"]) for x in window["labels"]]
            assert got == list(zip(expected["label_key"], expected["probability"], strict=True)), sha
            assert (window["start_s"], window["end_s"]) == (expected["start_s"][0], expected["end_s"][0])
            compared += 1
        assert body["window"] == {
            "seconds": 7.0,
            "hop_seconds": 7.0,
            "min_seconds": 1.0,
            "source": "champion",
        }
        assert mine["window_seconds"].unique().to_list() == [7.0]  # the inbox cut the same windows
    assert compared >= len(answers)


def _bad_requests(server, tmp_path: Path) -> list[tuple[str, httpx.Response]]:
    """30 requests a field app or a careless script could send."""
    bad = tmp_path / "bad"
    entries = write_bad_inputs(bad)
    out = []
    with server.client() as client:
        for entry in entries:
            path = bad / entry.relative_path
            if entry.expect != "failed" or path.is_symlink():
                continue
            out.append((entry.kind, _post(client, path)))
        out.append(("10-minute file", _post(client, bad / "long" / "ten_minutes.flac")))
        wav = next(p for p in (server.root / "landing" / "tone").rglob("*.wav"))
        out.append(("raw body, no type", client.post("/v1/classify", content=wav.read_bytes())))
        out.append(
            (
                "empty raw body",
                client.post("/v1/classify", content=b"", headers={"content-type": "audio/wav"}),
            )
        )
        out.append(("multipart without file", client.post("/v1/classify", files={"other": ("a.wav", b"x")})))
        out.append(("top_k 0", _post(client, wav, top_k=0)))
        too_big = b"RIFF" + bytes(3_000_000)
        out.append(
            ("too large", client.post("/v1/classify", content=too_big, headers={"content-type": "audio/wav"}))
        )
        out.append(
            (
                "feedback for no request",
                client.post("/v1/feedback", json={"request_id": "0" * 32, "label": "tone"}),
            )
        )
        out.append(
            (
                "feedback label and none",
                client.post("/v1/feedback", json={"request_id": "a", "label": "tone", "none_of_these": True}),
            )
        )
        out.append(
            (
                "feedback not JSON",
                client.post("/v1/feedback", content=b"{", headers={"content-type": "application/json"}),
            )
        )
    with httpx.Client(base_url=server.url) as anonymous:
        out.append(("no token", anonymous.post("/v1/classify", content=wav.read_bytes())))
        wrong = {"Authorization": "Bearer guess"}
        out.append(("wrong token", anonymous.post("/v1/feedback", json={"request_id": "a"}, headers=wrong)))
    return out


def test_thirty_bad_requests_get_4xx_with_reasons_and_the_service_still_answers(serve, tmp_path):
    server = serve(token="s3cret", serve_max_upload_mb=2.5, serve_max_clip_seconds=60.0)
    answers = _bad_requests(server, tmp_path)
    assert len(answers) == 30
    for kind, response in answers:
        assert 400 <= response.status_code < 500, (kind, response.status_code, response.text)
        detail = response.json()["detail"]
        assert detail, kind
    by_kind = {kind: r for kind, r in answers}
    assert (
        "NaN" in by_kind["NaN samples"].json()["detail"]
        or "non-finite" in by_kind["NaN samples"].json()["detail"]
    )
    assert (
        by_kind["10-minute file"].status_code == 413
        and "serve_max_clip_seconds" in by_kind["10-minute file"].text
    )
    assert by_kind["too large"].status_code == 413 and "serve_max_upload_mb" in by_kind["too large"].text
    assert by_kind["raw body, no type"].status_code == 415
    assert by_kind["no token"].status_code == by_kind["wrong token"].status_code == 401
    assert by_kind["feedback for no request"].status_code == 404
    assert not list((server.settings.home / "service" / "recent").glob("*.wav")), "refused clips are not kept"
    with server.client() as client:
        assert client.get("/health").json() == {"status": "ok"}
        wav = next(p for p in (server.root / "landing" / "tone").rglob("*.wav"))
        assert _post(client, wav).status_code == 200
        metrics = client.get("/metrics").text
    assert 'sec_requests_total{endpoint="/v1/classify",status="422"}' in metrics
    assert (
        'sec_model_served{model="sec-classifier-oct3",octave="3",role="champion",version="1"} 1.0' in metrics
    )
    server.process.terminate()
    server.process.wait(60)
    served = read_served(server.settings.home)
    assert served["request_id"].n_unique() == 1  # the one good request; refusals are not served
    assert served["model_version"].unique().to_list() == ["1"]
