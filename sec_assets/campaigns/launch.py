"""What starts a campaign task: the campaign file checked against the settings, and the
worker's environment (the executor chosen by the task's ``where``)."""

from __future__ import annotations

import os
from pathlib import Path

from sec_assets.core.campaign.spec import Campaign, Task, load_campaign
from sec_assets.core.settings import Settings, load_settings


def load(path: Path) -> tuple[Campaign, Settings]:
    """The campaign file checked against the settings (YAML ← environment) and the executor's rules."""
    from sec_assets.executor.config import check_config

    base = load_settings()
    return load_campaign(path, base, check_config), base


def worker_env(task: Task, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ``SEC_EXECUTOR`` unset for ``local``, a submitit mode for ``slurm``."""
    from sec_assets.executor.config import EXECUTOR_ENV, executor_mode

    env = dict(os.environ if environ is None else environ)
    if task.run.where == "local":
        env.pop(EXECUTOR_ENV, None)
    elif executor_mode(env) is None:
        env[EXECUTOR_ENV] = "slurm"
    return env
