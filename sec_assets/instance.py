"""The Dagster instance this project's commands and tests use: its home and the class partitions.

``DAGSTER_HOME`` if set, else ``<SEC_HOME>/dagster`` holding a copy of the repository's
``dagster.yaml`` (or a minimal one outside a checkout). Library code for the CLI, the campaign
worker, the benchmarks and the tests; it imports no CLI module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sec_assets
from sec_assets.core.settings import Settings

MINIMAL_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def ensure_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` if set, else ``<SEC_HOME>/dagster`` with the repo's local profile."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster").absolute()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        profile = Path(sec_assets.__file__).resolve().parents[1] / "dagster.yaml"
        if profile.is_file():
            shutil.copyfile(profile, target)
        else:
            target.write_text(MINIMAL_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def register_classes(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Add a dynamic partition for every class (folder, or label of the dataset table); returns
    (key → name, newly added keys)."""
    from dagster import DagsterInstance

    from sec_assets.partitions import AUDIO_CLASS

    classes = settings.dataset().classes()
    ensure_dagster_home(settings)
    with DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(AUDIO_CLASS))
        new = sorted(set(classes) - known)
        if new:
            instance.add_dynamic_partitions(AUDIO_CLASS, new)
    return classes, new
