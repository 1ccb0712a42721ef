"""The import contracts in ``pyproject.toml`` (``[tool.importlinter]``) hold, and they would catch
a violation: the package is copied, one bad import is planted, and ``lint-imports`` must fail
naming the contract it breaks. Imports inside functions count as much as module-level ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT), "--no-cache", "pyproject.toml"], cwd=root, env=env, capture_output=True, text=True
    )


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "sec_assets", tmp_path / "sec_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _plant(copy: Path, module: str, line: str) -> None:
    path = copy / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {line}\n")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("sec_assets.core.hashing", "import dagster  # noqa", "the core imports neither Dagster"),
        ("sec_assets.core.features.clap", "from sec_assets.testing import signals  # noqa", "never imports"),
        ("sec_assets.defs.ingest", "from sec_assets.cli import main  # noqa", "the CLI is the top layer"),
        ("sec_assets.core.audio.splits", "from sec_assets.core import settings  # noqa", "inside the core"),
        (
            "sec_assets.core.store.storage",
            "from sec_assets.core.store import catalog  # noqa",
            "no import cycle",
        ),
    ],
)
def test_a_planted_violation_fails_naming_its_contract(copy: Path, module: str, line: str, contract: str):
    assert _lint(copy).returncode == 0  # the copy is clean before the plant
    _plant(copy, module, line)
    result = _lint(copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout
