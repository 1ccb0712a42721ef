"""What every step of a run binds and sets inside its container, resolved once when the run starts.

The step inside the image must see the same files, at the same paths, as it would in the venv:
``SEC_HOME``, ``DAGSTER_HOME`` and the submitit folder (required: the step writes there), and,
when they exist on the orchestrator, the model store, the landing, the inbox, the dataset table
and the settings file (``SEC_CONFIG``, else the project's ``configs/sec.yaml``: the image's own
copy of the package has no project next to it). Their resolved absolute paths are also set in the
step's environment, so that a relative setting (``home: .sec``) means the same directory inside,
whatever the container's working directory. Paths given only in a run's resource config are not
known here: add them to ``container.binds``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sec_assets.core.settings import load_settings, settings_file
from sec_assets.executor.container import Bind, ContainerConfig, ContainerStep, step_binds
from sec_assets.executor.container_checks import DAGSTER_HOME, FOLDER
from sec_assets.executor.errors import ExecutorConfigError


def _bind(setting: str, path: Path) -> Bind:
    return Bind(str(path), str(path), False, setting)


def shared_paths(
    container: ContainerConfig, folder: Path, environ: Mapping[str, str] | None = None
) -> tuple[tuple[Bind, ...], tuple[tuple[str, str], ...]]:
    """Every bind of the run's steps (the shared paths, then ``container.binds``) and the
    variables set inside to the shared paths' absolute values. Reads the settings (YAML ←
    environment) and ``DAGSTER_HOME`` from ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    settings = load_settings(env=environ)
    if not environ.get(DAGSTER_HOME):
        raise ExecutorConfigError(
            f"{DAGSTER_HOME} is not set: steps in a container need the instance's folder to bind"
        )
    dagster_home = Path(environ[DAGSTER_HOME]).expanduser().absolute()
    config_file = settings_file(environ).expanduser().absolute()
    # variable → its resolved path, set inside; the model store, the landing, the inbox and the
    # dataset table are bound only when they exist (the step could read nothing else there)
    values: dict[str, Path] = {"SEC_HOME": settings.home, DAGSTER_HOME: dagster_home}
    optional = {
        "SEC_MODELS": settings.models,
        "SEC_AUDIO_ROOT": settings.audio_root,
        "SEC_INBOX": settings.inbox,
    }
    if settings.dataset_table is not None:
        optional["SEC_DATASET_TABLE"] = settings.dataset_table
    values.update({var: path for var, path in optional.items() if path is not None})
    if config_file.exists():  # none on the host: the image finds none either, the defaults agree
        values["SEC_CONFIG"] = config_file
    shared = [
        _bind("SEC_HOME", settings.home),
        _bind(DAGSTER_HOME, dagster_home),
        _bind(FOLDER, folder.absolute()),
    ]
    shared += [
        _bind(var, values[var]) for var in (*optional, "SEC_CONFIG") if var in values and values[var].exists()
    ]
    env = {var: str(path) for var, path in values.items()}
    env["PYTHONNOUSERSITE"] = "1"  # Apptainer binds $HOME: no ~/.local package may shadow the image's
    return step_binds(shared, container.binds), tuple(sorted(env.items()))


def container_step(
    container: ContainerConfig, shared: tuple[tuple[Bind, ...], tuple[tuple[str, str], ...]], gpus: int
) -> ContainerStep:
    """What the wrapper of one step gets: the run's binds and variables, and the step's GPUs."""
    binds, env = shared
    return ContainerStep(container, binds, env, gpus)
