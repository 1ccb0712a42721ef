"""The UI as a user opens it: dagster-webserver on 127.0.0.1 lists every asset with its description."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ASSETS = {
    "raw_manifest",
    "augmented_segments",
    "clap_embeddings",
    "octave_spectrograms",
    "splits",
    "trained_classifier",
    "evaluation_report",
    "zero_shot_baseline",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webserver_serves_every_asset_on_loopback(tmp_path: Path):
    port = _free_port()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "SEC_HOME": str(tmp_path / "home")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            str(repo / "workspace.yaml"),
            "-p",
            str(port),
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = json.dumps(
            {"query": "{ assetNodes { assetKey { path } description partitionDefinition { description } } }"}
        ).encode()
        deadline, data = time.monotonic() + 120, None
        while time.monotonic() < deadline and data is None:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=query,
                    headers={"content-type": "application/json"},
                )
                data = json.loads(urllib.request.urlopen(req, timeout=5).read())
            except OSError:
                time.sleep(1)
        assert data is not None, "webserver did not answer within 120 s"
        nodes = {n["assetKey"]["path"][0]: n for n in data["data"]["assetNodes"]}
        assert set(nodes) == ASSETS
        assert all(len(n["description"]) > 40 for n in nodes.values())
        unpartitioned = {k for k, n in nodes.items() if not n["partitionDefinition"]}
        assert unpartitioned == {"zero_shot_baseline"}  # one run over every class
        # loopback only: the port is not bound on other addresses
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        bound = [
            line.split()[3] for line in listening.splitlines() if line.endswith(":*") or f":{port} " in line
        ]
        assert any(addr == f"127.0.0.1:{port}" for addr in bound)
        assert not any(addr in (f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}") for addr in bound)
    finally:
        proc.terminate()
        proc.wait(30)
