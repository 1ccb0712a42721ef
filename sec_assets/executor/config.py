"""The executor's configuration: Dagster config schema, environment defaults, resource requests.

Precedence for every setting: ``execution: config:`` of the run ← the environment variable of
:data:`ENV_SETTINGS` ← the built-in default. The environment is read in one place,
:func:`env_defaults`, when the executor is initialised for a run — never at import — and a bad
value is refused with a message that names the variable and says what is allowed.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import Field, Noneable, Permissive, Shape

from sec_assets.dagster_seam import retries_config_field
from sec_assets.executor.container import RUNTIMES, ContainerConfig, parse_container
from sec_assets.executor.errors import ExecutorConfigError
from sec_assets.executor.protocol import SIGNAL_DELAY_ENV

RESOURCE_TAG = "sec/resources"  # op tag (JSON) with an asset's requests
RUN_TAG_PREFIX = "sec/slurm/"  # run tags sec/slurm/<key> override them for one run
REQUEST_KEYS = ("gpus", "cpus", "mem_gb", "partition", "time_min")
EXECUTOR_ENV = "SEC_EXECUTOR"
EXECUTOR_MODES = ("slurm", "local", "debug")


@dataclass(frozen=True)
class EnvSetting:
    """One environment variable: the config key it sets, its kind and the built-in default."""

    var: str
    key: str
    kind: str  # "text", "mode", "whole" (an integer >= minimum), "number" (a real number > 0), "container"
    default: Any
    minimum: float = 0
    description: str = ""


ENV_SETTINGS = (
    EnvSetting(EXECUTOR_ENV, "mode", "mode", "local", description=" | ".join(EXECUTOR_MODES)),
    EnvSetting(
        "SEC_SUBMITIT_FOLDER",
        "folder",
        "text",
        None,  # None: $SEC_HOME/submitit
        description="job folder on storage every node sees (created 0700: its pickles execute there)",
    ),
    EnvSetting(
        "SEC_NODE_PYTHON",
        "python",
        "text",
        "",
        description="python command on the nodes: a venv's python, or anything custom such as "
        "`apptainer exec --nv <sif> python` (empty: this interpreter); with `container`, the job "
        "wrapper's python on the node (the step itself runs in the container)",
    ),
    EnvSetting(
        "SEC_CONTAINER",
        "container",
        "container",
        None,
        description="run each step inside a container: {runtime: apptainer | podman | docker, image: "
        "SIF path or image name, binds: [SRC[:DST[:ro]]], env: [NAME], runtime_args: [...], "
        "run_args: [...]}; the variable holds it as YAML/JSON (cluster guide: Steps in a container)",
    ),
    EnvSetting("SEC_SLURM_PARTITION", "partition", "text", None, description="none: the cluster's default"),
    EnvSetting("SEC_SLURM_GPU_PARTITION", "gpu_partition", "text", "gpu"),
    EnvSetting("SEC_SLURM_ACCOUNT", "account", "text", None),
    EnvSetting("SEC_SLURM_QOS", "qos", "text", None),
    EnvSetting("SEC_SLURM_TIME_MIN", "time_min", "whole", 60, 1),
    EnvSetting("SEC_SLURM_CPUS", "cpus", "whole", 2, 1),
    EnvSetting("SEC_SLURM_MEM_GB", "mem_gb", "number", 4.0),
    EnvSetting(
        SIGNAL_DELAY_ENV,
        "signal_delay_s",
        "whole",
        60,
        0,
        description="Slurm signals the step this long before its time limit",
    ),
    EnvSetting("SEC_SUBMITIT_MAX_CONCURRENT", "max_concurrent", "whole", 64, 1),
    EnvSetting(
        "SEC_SUBMITIT_POLL_S",
        "poll_interval_s",
        "number",
        5.0,
        description="seconds between two looks at the jobs (one sacct call for all of them)",
    ),
)
_SETTINGS = {s.var: s for s in ENV_SETTINGS}
_TYPES = {"text": str, "mode": str, "whole": int, "number": float}
CONTAINER_SHAPE = Shape(
    {
        "runtime": Field(str, description=" | ".join(RUNTIMES)),
        "image": Field(str, description="apptainer: the SIF file's absolute path; podman, docker: the image"),
        "binds": Field([str], default_value=[], description="more host paths: SRC[:DST[:ro|rw]]"),
        "env": Field([str], default_value=[], description="more variables passed into the container"),
        "runtime_args": Field([str], default_value=[], description="before the runtime's subcommand"),
        "run_args": Field([str], default_value=[], description="after `exec` / `run`, before the image"),
    }
)


def _parse(setting: EnvSetting, raw: str, source: str) -> Any:
    """``raw`` (stripped, non-empty) as the setting's kind; ``source`` names it in the message."""
    if setting.kind == "mode":
        if raw not in EXECUTOR_MODES:
            raise ExecutorConfigError(f"{source} must be one of {EXECUTOR_MODES} or unset, got {raw!r}")
        return raw
    if setting.kind == "text":
        return raw
    if setting.kind == "container":
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ExecutorConfigError(f"{source} must be a YAML or JSON mapping: {exc}") from None
        return parse_container(value, source)
    if setting.kind == "whole":
        if not re.fullmatch(r"[+-]?\d+", raw) or int(raw) < setting.minimum:
            raise ExecutorConfigError(f"{source} must be a whole number >= {setting.minimum:g}, got {raw!r}")
        return int(raw)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ExecutorConfigError(f"{source} must be a number > 0 (e.g. 4 or 0.5), got {raw!r}")
    return value


def _read(setting: EnvSetting, environ: Mapping[str, str]) -> Any:
    """The variable's value, or None when it is unset or blank."""
    raw = environ.get(setting.var, "").strip()
    return _parse(setting, raw, setting.var) if raw else None


def executor_mode(environ: Mapping[str, str] | None = None) -> str | None:
    """``SEC_EXECUTOR``: one of :data:`EXECUTOR_MODES`, or None when unset (Dagster's own executor).
    The one place that variable is read."""
    return _read(_SETTINGS[EXECUTOR_ENV], os.environ if environ is None else environ)


def env_defaults(
    environ: Mapping[str, str] | None = None, keys: Collection[str] | None = None
) -> dict[str, Any]:
    """Config key → its value from the environment, else its built-in default, for every setting
    of :data:`ENV_SETTINGS` (or those of ``keys``). Raises :class:`ExecutorConfigError` naming a
    variable with a bad value."""
    environ = os.environ if environ is None else environ
    values = {}
    for setting in ENV_SETTINGS:
        if keys is not None and setting.key not in keys:
            continue
        value = executor_mode(environ) if setting.var == EXECUTOR_ENV else _read(setting, environ)
        values[setting.key] = setting.default if value is None else value
    if "folder" in values and values["folder"] is None:
        values["folder"] = str(Path(environ.get("SEC_HOME", "").strip() or ".sec") / "submitit")
    return values


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The executor config of a run with every key left unset (None) taken from :func:`env_defaults`
    (only those variables are read)."""
    values = dict(config)
    values.update(env_defaults(environ, [s.key for s in ENV_SETTINGS if values.get(s.key) is None]))
    _parse(_SETTINGS[EXECUTOR_ENV], values["mode"], "executor config 'mode'")
    return values


def check_config(values: Mapping[str, Any]) -> dict[str, str]:
    """Problems of an executor config written outside Dagster's launchpad (a campaign file):
    key → what is wrong. The same rules as the environment variables; ``mode`` is not set here."""
    settings = {s.key: s for s in ENV_SETTINGS if s.var != EXECUTOR_ENV}
    allowed = [*settings, "setup", "slurm_additional_parameters", "finish_wait_s"]
    problems: dict[str, str] = {}
    for key, value in values.items():
        if key == "container":
            try:
                parse_container(value, "container")
            except ExecutorConfigError as exc:
                problems[key] = str(exc)
        elif key in settings:
            if value is None or isinstance(value, bool | dict | list):
                problems[key] = f"must be a single value ({settings[key].kind}), got {value!r}"
                continue
            try:
                _parse(settings[key], str(value).strip(), "the value")
            except ExecutorConfigError as exc:
                problems[key] = str(exc)
        elif key == "setup":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems[key] = f"must be a list of shell lines, got {value!r}"
        elif key == "slurm_additional_parameters":
            if not isinstance(value, dict):
                problems[key] = f"must be a mapping of sbatch options, got {value!r}"
        elif key == "finish_wait_s":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems[key] = f"must be a number of seconds >= 0, got {value!r}"
        else:
            problems[key] = f"is not an executor setting; they are {allowed}"
    return problems


def _field(setting: EnvSetting) -> Field:
    default = {"folder": "$SEC_HOME/submitit"}.get(
        setting.key, "none" if setting.default is None else setting.default
    )
    text = f"{setting.description} " if setting.description else ""
    return Field(
        Noneable(CONTAINER_SHAPE if setting.kind == "container" else _TYPES[setting.kind]),
        default_value=None,
        description=f"{text}(default: ${setting.var}, else {default})",
    )


CONFIG_SCHEMA: dict[str, Any] = {
    **{s.key: _field(s) for s in ENV_SETTINGS},
    "setup": Field([str], default_value=[], description="shell lines run before the step (module load …)"),
    "slurm_additional_parameters": Field(Permissive(), default_value={}),
    "finish_wait_s": Field(
        float,
        default_value=300.0,
        description="after a step has reported, how long to wait for its job to end before its figures "
        "and log tails are read anyway (the engine event then says the job had not finished)",
    ),
    "retries": retries_config_field(),
}


@dataclass(frozen=True)
class SubmititConfig:
    mode: str
    folder: Path
    python: str
    setup: tuple[str, ...]
    partition: str | None
    gpu_partition: str
    account: str | None
    qos: str | None
    time_min: int
    cpus: int
    mem_gb: float
    signal_delay_s: int
    poll_interval_s: float
    extra: Mapping[str, Any]
    max_concurrent: int = 64
    finish_wait_s: float = 300.0
    container: ContainerConfig | None = None

    @classmethod
    def from_dagster(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> SubmititConfig:
        """From the executor config of a run; unset keys from the environment (``environ``,
        default ``os.environ``) or the built-in defaults."""
        config = resolve(config, environ)
        container = parse_container(config.get("container"), "executor config container")
        python = (config["python"] or "").split()
        if container is not None and python and Path(python[0]).name in (*RUNTIMES, "singularity"):
            raise ExecutorConfigError(
                f"executor config container ({container.runtime}) and python ({config['python']!r}, "
                "SEC_NODE_PYTHON) both start a container: with container, python is the job wrapper's "
                "interpreter on the node; unset one of them"
            )
        return cls(
            mode=config["mode"],
            folder=Path(config["folder"]).expanduser().absolute(),
            python=config["python"] or sys.executable,
            setup=tuple(config.get("setup") or ()),
            partition=config["partition"] or None,
            gpu_partition=config["gpu_partition"],
            account=config["account"],
            qos=config["qos"],
            time_min=config["time_min"],
            cpus=config["cpus"],
            mem_gb=float(config["mem_gb"]),
            signal_delay_s=config["signal_delay_s"],
            poll_interval_s=float(config["poll_interval_s"]),
            extra=dict(config.get("slurm_additional_parameters") or {}),
            max_concurrent=config["max_concurrent"],
            finish_wait_s=float(config.get("finish_wait_s", 300.0)),
            container=container,
        )


def step_requests(
    config: SubmititConfig, step_tags: Mapping[str, str], run_tags: Mapping[str, str]
) -> dict[str, Any]:
    """Defaults ← the asset's ``sec/resources`` tag ← run tags ``sec/slurm/<key>``."""
    req: dict[str, Any] = {
        "gpus": 0,
        "cpus": config.cpus,
        "mem_gb": config.mem_gb,
        "partition": None,
        "time_min": config.time_min,
    }
    if RESOURCE_TAG in step_tags:
        tag = step_tags[RESOURCE_TAG]
        req.update(
            {k: v for k, v in (json.loads(tag) if isinstance(tag, str) else tag).items() if k in REQUEST_KEYS}
        )
    for key in REQUEST_KEYS:
        value = run_tags.get(RUN_TAG_PREFIX + key)
        if value is not None:
            req[key] = value if key == "partition" else float(value) if key == "mem_gb" else int(value)
    if not req["partition"]:
        req["partition"] = config.gpu_partition if int(req["gpus"]) > 0 else config.partition
    return req


def job_name(run_id: str, step_key: str, attempt: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"sec-{run_id[:8]}-{step_key}-a{attempt}")[:120]
