"""A trained home (the demo dataset, 1/3 octave, a champion in the registry), built once per
session, and real ``sec-assets serve`` processes on loopback over copies of it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sec_assets.core.settings import Settings, load_settings
from sec_assets.demo.data import write_demo_dataset
from sec_assets.local_run import run_everything

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 180  # imports and loading CLAP on a loaded 2-core machine


@dataclass(frozen=True)
class Trained:
    root: Path  # holds home/ and landing/
    models: Path
    dagster_home: Path  # the instance that holds its class partitions

    def settings(self, root: Path | None = None, **overrides: Any) -> Settings:
        root = root or self.root
        return load_settings(env={}, **self.values(root, **overrides))

    def values(self, root: Path, **overrides: Any) -> dict[str, Any]:
        return {
            "home": str(root / "home"),
            "audio_root": str(root / "landing"),
            "models": str(self.models),
            "allow_random_init": True,
            "bootstrap_resamples": 50,
            "octaves": [3],
            **overrides,
        }


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, model_store: Path) -> Trained:
    root = tmp_path_factory.mktemp("served")
    write_demo_dataset(root / "landing", files_per_class=4)
    dagster_home = tmp_path_factory.mktemp("dagster_home")
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = Trained(root, model_store, dagster_home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(dagster_home))
        run_everything(done.settings(), log=False)
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    root: Path
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None = None

    def client(self, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, timeout=timeout, headers=headers)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def serve(trained: Trained, tmp_path: Path) -> Iterator[Any]:
    """``serve(**settings)``: a ``sec-assets serve`` process over a copy of the trained home
    (so what a test adds — corrections, versions — stays its own), ready when returned."""
    started: list[Server] = []

    def start(token: str | None = None, copy: bool = True, **overrides: Any) -> Server:
        root = tmp_path / f"server{len(started)}"
        if copy:
            shutil.copytree(trained.root / "home", root / "home", symlinks=True)
            shutil.copytree(trained.root / "landing", root / "landing")
        else:
            root = trained.root
        port = free_port()
        values = trained.values(root, serve_port=port, **overrides)
        config = tmp_path / f"server{len(started)}.yaml"
        config.write_text(yaml.safe_dump(values))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEC_")}
        env.update({"SEC_CONFIG": str(config), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"})
        if token:
            env["SEC_SERVE_TOKEN"] = token
        log = tmp_path / f"server{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(BIN / "sec-assets"), "serve", "--log-level", "info"], env=env, stdout=out, stderr=out
            )
        server = Server(
            f"http://127.0.0.1:{port}", root, load_settings(config_file=config, env={}), process, log, token
        )
        started.append(server)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"the service exited:\n{server.output()[-4000:]}"
            try:
                if httpx.get(f"{server.url}/ready", timeout=5).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                f"not ready in {START_TIMEOUT_S} s:\n{server.output()[-4000:]}"
            )
            time.sleep(0.5)

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
