"""The UI as a user opens it: dagster-webserver on 127.0.0.1 lists every asset with its description,
and serves the evaluation report's metadata (the rendered image, the numeric headline figures)."""

import base64
import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from sec_assets.local_run import run_everything

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ASSETS = {
    "raw_manifest",
    "augmented_segments",
    "clap_embeddings",
    "octave_spectrograms",
    "splits",
    "trained_classifier",
    "evaluation_report",
    "zero_shot_baseline",
    "octave_comparison",
    "inbox_predictions",
    "prediction_drift",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def webserver(dagster_home: Path, env: dict[str, str]) -> Iterator[tuple[int, object]]:
    """dagster-webserver on a free loopback port; yields (port, graphql(query) → data)."""
    port = _free_port()
    if not (dagster_home / "dagster.yaml").exists():
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(REPO / "workspace.yaml"),
            "-p",
            str(port),
        ],
        cwd=REPO,
        env={**os.environ, **env, "DAGSTER_HOME": str(dagster_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def graphql(query: str, timeout_s: float = 120) -> dict:
        body = json.dumps({"query": query}).encode()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=body,
                    headers={"content-type": "application/json"},
                )
                answer = json.loads(urllib.request.urlopen(req, timeout=10).read())
                assert "errors" not in answer, answer["errors"]
                return answer["data"]
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"webserver did not answer within {timeout_s} s") from None
                time.sleep(1)

    try:
        yield port, graphql
    finally:
        proc.terminate()
        proc.wait(30)


def test_webserver_serves_every_asset_on_loopback(tmp_path: Path):
    with webserver(tmp_path, {"SEC_HOME": str(tmp_path / "home")}) as (port, graphql):
        data = graphql("{ assetNodes { assetKey { path } description partitionDefinition { description } } }")
        nodes = {n["assetKey"]["path"][0]: n for n in data["assetNodes"]}
        assert set(nodes) == ASSETS
        assert all(len(n["description"]) > 40 for n in nodes.values())
        unpartitioned = {k for k, n in nodes.items() if not n["partitionDefinition"]}
        assert unpartitioned == {
            "zero_shot_baseline",
            "octave_comparison",
            "inbox_predictions",
            "prediction_drift",
        }  # one run over every class
        # loopback only: the port is not bound on other addresses
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        bound = [
            line.split()[3] for line in listening.splitlines() if line.endswith(":*") or f":{port} " in line
        ]
        assert any(addr == f"127.0.0.1:{port}" for addr in bound)
        assert not any(addr in (f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}") for addr in bound)


METADATA = """{ assetOrError(assetKey: {path: ["%s"]}) { ... on Asset {
  assetMaterializations(%s limit: 1) { partition metadataEntries { label __typename
    ... on MarkdownMetadataEntry { mdStr } ... on FloatMetadataEntry { floatValue }
    ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text }
    ... on UrlMetadataEntry { url } } } } } }"""


def _entries(graphql, asset: str, partition: str | None) -> dict[str, dict]:
    selector = f'partitions: ["{partition}"],' if partition else ""
    mats = graphql(METADATA % (asset, selector))["assetOrError"]["assetMaterializations"]
    assert len(mats) == 1 and mats[0]["partition"] == partition
    return {e["label"]: e for e in mats[0]["metadataEntries"]}


def _inline_png(markdown: str) -> Image.Image:
    found = re.search(r"\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert found, "no inline PNG in the Markdown"
    return Image.open(io.BytesIO(base64.b64decode(found.group(1))))


def test_the_ui_serves_the_report_image_and_numeric_headline(demo_dataset, make_settings, dagster_home):
    root, _ = demo_dataset
    settings = make_settings(root, octaves=(3, 12))
    run_everything(settings, log=False)
    env = {"SEC_HOME": str(settings.home), "SEC_AUDIO_ROOT": str(root), "SEC_OCTAVES": "3,12"}
    with webserver(dagster_home, env) as (_, graphql):
        report = _entries(graphql, "evaluation_report", "3")
        for label in (
            "test_macro_f1",
            "test_macro_f1_ci_low",
            "test_macro_f1_ci_high",
            "test_mAP",
            "test_accuracy",
        ):
            assert report[label]["__typename"] == "FloatMetadataEntry", label
            assert 0.0 <= report[label]["floatValue"] <= 1.0
        assert report["test_macro_f1_ci_low"]["floatValue"] <= report["test_macro_f1_ci_high"]["floatValue"]
        assert report["alias"]["text"] in ("champion", "challenger")
        md = report["report"]["mdStr"]
        assert report["report"]["__typename"] == "MarkdownMetadataEntry"
        assert "![confusion matrix, test](data:image/png;base64," in md
        png = _inline_png(md.split("## test")[1])
        assert png.format == "PNG" and png.size == (575, 425)  # 5 classes
        comparison = _entries(graphql, "octave_comparison", None)
        assert comparison["recommended_octave"]["intValue"] in (3, 12)
        plot = _inline_png(comparison["plot"]["mdStr"])
        assert plot.format == "PNG" and plot.size == (900, 380)
