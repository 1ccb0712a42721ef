"""The service's page at ``/`` in a real browser: Debian's Chromium, headless, driven by Playwright,
against a real ``sec-assets serve`` (the ``serve`` fixture). A landing clip uploaded and labelled
as the JSON answer of the same request says, a correction filed into the landing folder, a token
asked for and kept, the server's errors shown, and a recording (Chromium's fake microphone)
encoded as WAV in the page and labelled."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
# a microphone without a device: granted without asking, and it plays a beep
FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ANSWER_TIMEOUT_MS = 180_000  # the first request of a fresh server on a loaded 2-core machine


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by scripts/local_chromium.sh when missing (CI: a fresh Debian)."""
    if not CHROMIUM.exists():
        done = subprocess.run(
            ["bash", str(REPO / "scripts/local_chromium.sh")], capture_output=True, text=True, timeout=1800
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert CHROMIUM.exists(), f"no {CHROMIUM} after scripts/local_chromium.sh"
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path) -> Iterator[Browser]:
    """One browser per test; Playwright's launch gives it a fresh temporary user data dir."""
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium), args=FLAGS + FAKE_MICROPHONE)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(  # (the <audio> preview's blob: loads may be cut short: not the service's)
        "requestfailed",
        lambda r: problems.append(f"{r.url}: {r.failure}") if r.url.startswith(url) else None,
    )
    page.goto(f"{url}/")
    return page, problems


def classify(page: Page) -> dict[str, Any]:
    """Click Classify and wait for the labels; the page's request id."""
    page.click("#classify")
    page.wait_for_function(
        "() => document.querySelector('#status').textContent === '' && "
        "(document.querySelector('#error').textContent !== '' || "
        "!document.querySelector('#results').hidden)",
        timeout=ANSWER_TIMEOUT_MS,
    )
    assert page.inner_text("#error") == ""
    return {"request_id": page.inner_text("#request-id").strip()}


def recent_answer(root: Path, request_id: str) -> dict[str, Any]:
    return dict(json.loads((root / "home" / "service" / "recent" / f"{request_id}.json").read_text()))


def assert_labels(shown: Any, labels: list[dict[str, Any]]) -> None:
    """The labels in order, each probability as a percentage to 0.1 (JS rounds ties up)."""
    assert shown.count() == len(labels)
    for i, label in enumerate(labels):
        assert shown.nth(i).locator(".name").inner_text() == label["label"]
        pct = shown.nth(i).locator(".pct").inner_text()
        assert pct.endswith(" %") and abs(float(pct[:-2]) - 100 * label["probability"]) <= 0.05 + 1e-9


def assert_page_shows(page: Page, answer: dict[str, Any]) -> None:
    """Every model, clip label and window row of the answer, as the page shows them."""
    assert len(answer["results"]) == page.locator("#answers .model").count() >= 1
    for result in answer["results"]:
        model = page.locator(f'#answers .model[data-octave="{result["octave"]}"]')
        assert model.locator("h3").inner_text().startswith(result["model"])
        assert model.locator(".version").inner_text() == f"v{result['model_version']}"
        assert_labels(model.locator(".clip-labels .label"), result["labels"])
        rows = model.locator(".window")
        assert rows.count() == len(result["windows"]) >= 1
        for i, window in enumerate(result["windows"]):
            row = rows.nth(i)
            assert row.get_attribute("data-index") == str(window["index"])
            assert row.locator(".span").inner_text() == f"{window['start_s']:.2f}–{window['end_s']:.2f} s"
            assert_labels(row.locator(".label"), window["labels"])
    timings = page.inner_text("#timings")
    assert f"service total {answer['timings_ms']['total']} ms" in timings


def test_a_landing_clip_is_labelled_as_the_answer_says_and_a_correction_lands(serve, browser):
    server = serve()
    served = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    page, problems = open_page(browser, server.url)
    page.wait_for_selector("#models tbody tr")
    assert [
        (r.get_attribute("data-octave"), r.locator(".version").inner_text())
        for r in page.locator("#models tbody tr").all()
    ] == [(str(m["octave"]), m["version"]) for m in served["models"]]
    options = page.locator("#feedback-label option").all_inner_texts()
    assert options == ["choose…", *served["classes"], "none of these"]

    clip = sorted((server.root / "landing" / "tone").rglob("*.wav"))[0]
    page.set_input_files("#file", str(clip))
    request_id = classify(page)["request_id"]
    answer = recent_answer(server.root, request_id)
    assert answer["request_id"] == request_id
    assert answer["clip"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()  # the clip as picked
    assert_page_shows(page, answer)

    result = answer["results"][0]
    window = result["windows"][0]
    shown = {x["label"] for x in window["labels"]}
    right = next(c for c in ["chirp", *served["classes"]] if c not in shown)
    page.locator(f'#answers .model[data-octave="{result["octave"]}"] .window button.wrong').first.click()
    assert request_id in page.inner_text("#feedback-target")
    page.select_option("#feedback-label", right)
    page.click("#send-feedback")
    page.wait_for_function(
        "() => document.querySelector('#feedback-result').dataset.intoTraining !== undefined"
    )
    said = page.inner_text("#feedback-result")
    assert page.get_attribute("#feedback-result", "data-into-training") == "true", said
    assert f"“{right}”" in said and "a new example of its class" in said

    landed = server.root / "landing" / right / f"feedback-{request_id}{clip.suffix}"
    assert landed.read_bytes() == clip.read_bytes()
    provenance = json.loads((landed.parent / ".provenance" / f"{landed.name}.json").read_text())
    assert provenance["request_id"] == request_id and provenance["label"] == right
    assert provenance["into_training"] is True
    assert (provenance["octave"], provenance["window_index"]) == (result["octave"], window["index"])
    assert provenance["answer"]["results"][0]["model_version"] == result["model_version"]
    assert problems == []


def test_the_page_asks_for_the_token_shows_errors_plainly_and_files_none_of_these(serve, browser):
    server = serve(token="page-secret")
    page, _ = open_page(browser, server.url)
    page.wait_for_selector("#token", state="visible")
    assert "bearer token" in page.inner_text("#models-state")
    page.fill("#token", "wrong")
    page.click("#save-token")
    page.wait_for_selector("#token", state="visible")
    assert "The token was refused" in page.inner_text("#error")
    page.fill("#token", "page-secret")
    page.click("#save-token")
    page.wait_for_selector("#models tbody tr")
    assert page.is_hidden("#auth")
    assert page.evaluate("sessionStorage.getItem('sec-serve-token')") == "page-secret"
    page.reload()  # kept for the tab
    page.wait_for_selector("#models tbody tr")
    assert page.is_hidden("#auth")

    # the server's reason, as it gave it
    junk = {"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"RIFF, but no sound"}
    with server.client() as client:
        detail = client.post("/v1/classify", files={"file": ("notes.wav", junk["buffer"], "audio/wav")})
    assert detail.status_code == 422
    page.set_input_files("#file", files=[junk])
    page.click("#classify")
    page.wait_for_function("() => document.querySelector('#error').textContent !== ''")
    error = page.inner_text("#error")
    assert error.startswith("422: not a usable clip:")
    assert re.sub("[0-9a-f]{32}", "<id>", error) == re.sub(
        "[0-9a-f]{32}", "<id>", f"422: {detail.json()['detail']}"
    )
    assert page.is_hidden("#results")

    clip = sorted((server.root / "landing" / "chirp").rglob("*.flac"))[0]
    page.set_input_files("#file", str(clip))
    request_id = classify(page)["request_id"]
    page.locator("#answers .model button.wrong").first.click()  # the clip as a whole
    page.select_option("#feedback-label", label="none of these")
    page.click("#send-feedback")
    page.wait_for_function(
        "() => document.querySelector('#feedback-result').dataset.intoTraining !== undefined"
    )
    assert page.get_attribute("#feedback-result", "data-into-training") == "false"
    assert "none of these: no class to train, kept for review" in page.inner_text("#feedback-result")
    kept = server.root / "home" / "service" / "corrections" / "none-of-these" / f"feedback-{request_id}.flac"
    assert kept.read_bytes() == clip.read_bytes()
    provenance = json.loads((kept.parent / ".provenance" / f"{kept.name}.json").read_text())
    assert provenance["label"] is None and provenance["window_index"] is None
    assert not list((server.root / "landing").rglob(f"feedback-{request_id}.*"))


def test_a_recording_is_encoded_as_wav_in_the_page_and_labelled(serve, browser):
    server = serve()
    page, problems = open_page(browser, server.url)
    page.wait_for_selector("#models tbody tr")
    page.click("#record")
    page.wait_for_function(
        "() => parseFloat((document.querySelector('#recording').textContent.match(/[0-9.]+/) || ['0'])[0]) "
        ">= 2.5"
    )
    page.click("#record")
    page.wait_for_function("() => !document.querySelector('#classify').disabled")
    assert page.inner_text("#error") == ""
    assert page.inner_text("#clip-name").startswith("clip.wav")
    request_id = classify(page)["request_id"]
    answer = recent_answer(server.root, request_id)
    assert_page_shows(page, answer)
    posted = server.root / "home" / "service" / "recent" / f"{request_id}.wav"
    info = sf.info(str(posted))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    assert 1.5 < info.duration < 10 and answer["clip"]["duration_s"] == pytest.approx(info.duration, abs=1e-3)
    assert problems == []
