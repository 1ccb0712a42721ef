"""Shared fixtures: a demo dataset, a session-wide random-init CLAP model store, settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sec_assets.core.features.clap_store import ensure_random_init_model
from sec_assets.core.settings import Settings, load_settings
from sec_assets.demo.data import DemoFile, write_demo_dataset

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the seeded random-init 2023-architecture CLAP (built once)."""
    store = tmp_path_factory.mktemp("models")
    ensure_random_init_model(store)
    return store


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DemoFile]]:
    root = tmp_path_factory.mktemp("landing")
    return root, write_demo_dataset(root, files_per_class=4)


@pytest.fixture
def make_settings(tmp_path: Path, model_store: Path):
    def make(audio_root: Path, **overrides) -> Settings:
        overrides.setdefault("allow_random_init", True)
        overrides.setdefault("bootstrap_resamples", 50)  # intervals in tests: coarse but quick
        return load_settings(
            env={}, home=tmp_path / "home", audio_root=audio_root, models=model_store, **overrides
        )

    return make


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
