"""Steps inside a container: the executor setting ``container`` and the command that runs a step in it.

The setting (``execution: config: container:`` of a run, a campaign task's ``run: executor:``, or
``SEC_CONTAINER`` as a YAML/JSON mapping)::

    container:
      runtime: apptainer            # apptainer | podman | docker
      image: /shared/images/sec-assets.sif   # apptainer: the SIF's absolute path; else an image name
      binds: [/scratch/me]          # more host paths, SRC[:DST[:ro|rw]] (DST defaults to SRC)
      env: [WANDB_API_KEY]          # more variables passed into the container (their names)
      runtime_args: [--runtime, runc]                              # before the subcommand
      run_args: [--ulimit, "nofile=20000:20000", --ulimit, "nproc=1000:1000"]   # before the image

How a step runs with it: the job wrapper (:func:`sec_assets.executor.node.run_dagster_step`) still
starts on the node under the executor's ``python`` (``SEC_NODE_PYTHON``; unset, the orchestrator's
interpreter — the venv on shared storage, as without a container). Before any work it checks the
container (:mod:`~sec_assets.executor.container_checks`), then starts the step — ``python -m
dagster api execute_step`` through :data:`STEP_ENTRY` — inside the image with :func:`node_command`,
and keeps forwarding the time-limit signal (to the runtime's process, which passes it on:
podman's and docker's ``--sig-proxy``, Apptainer's starter) and sampling the GPUs from outside.
``python`` therefore still names the wrapper's interpreter; the container decides only where the
step runs. A ``python`` that itself starts a container (``apptainer exec … python``, the way to
run *everything*, wrapper included, in a custom command) cannot be combined with ``container``:
the config refuses the pair (:meth:`sec_assets.executor.config.SubmititConfig.from_dagster`).

What :func:`node_command` puts on the command line, per runtime:

- the shared paths at the same paths inside (``SEC_HOME``, ``DAGSTER_HOME``, the model store, the
  landing, the settings file and the submitit folder; :mod:`~sec_assets.executor.container_plan`
  resolves them when the run starts) plus ``binds``;
- GPU access when the step requests GPUs: ``--nv`` (Apptainer), ``--device nvidia.com/gpu=all``
  (podman, CDI), ``--gpus all`` (docker); every GPU of the node is visible and Slurm's
  ``CUDA_VISIBLE_DEVICES`` (passed through) selects the job's;
- the environment: only the variables of :func:`passed_env_names` cross (``SEC_*``,
  ``DAGSTER_*`` — the step's arguments and the instance's Postgres variables —, ``SLURM_*``,
  ``CUDA_*``, …, and ``env``); Apptainer runs with ``--cleanenv`` and gets them as
  ``APPTAINERENV_<name>`` (:func:`runtime_env`), podman and docker as ``--env <name>`` whose value
  comes from the runtime's own environment — no value is written on a command line;
- Apptainer: ``--no-mount cwd``, so a source checkout in the working directory cannot shadow the
  image's package (Dagster puts the working directory on ``sys.path``); podman and docker:
  ``--rm``, ``--name`` (the wrapper kills the container by name when Slurm ends the job: the
  container is not in the wrapper's process group), ``--network host`` (like Apptainer: the
  instance's database is reached as from the node); docker also ``--user <uid>:<gid>`` (its daemon
  runs as root: files on the shared paths stay the user's).

``runtime_args`` and ``run_args`` carry what a site needs beyond that. For example podman as root
on a Debian 12 VM with cgroups v1 in hybrid mode fails with its default runtime (crun:
``setrlimit RLIMIT_NOFILE: Operation not permitted``, then "cgroups in hybrid mode not
supported") and runs with ``runtime_args: [--runtime, runc]`` and ``run_args: [--ulimit,
nofile=20000:20000, --ulimit, nproc=1000:1000]`` (a hard nproc limit below the host's own).

No Dagster here: the wrapper imports this module on the node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sec_assets.executor.errors import ExecutorConfigError

RUNTIMES = ("apptainer", "podman", "docker")
SETTING = "executor config container"
KEYS = ("runtime", "image", "binds", "env", "runtime_args", "run_args")
# The step in the image: ``python -m dagster api execute_step``, started with USR1 and USR2
# ignored, as the wrapper starts it without a container (there SIG_IGN survives exec; a container's
# process does not inherit it: podman and docker start it from their own daemons, Apptainer's
# starter installs handlers), so that Slurm's early USR2 — delivered to every process of the job,
# or proxied into the container by podman's and docker's clients — cannot kill the step; the step's
# resource then handles USR1 (sec_assets.executor.protocol).
STEP_ENTRY = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGUSR1, signal.SIG_IGN); signal.signal(signal.SIGUSR2, signal.SIG_IGN); "
    "sys.argv = ['dagster', 'api', 'execute_step']; "
    "runpy.run_module('dagster', run_name='__main__', alter_sys=True)"
)
STEP_COMMAND = ("python", "-c", STEP_ENTRY)  # the image's python
GPU_FLAGS = {
    "apptainer": ("--nv",),
    "podman": ("--device", "nvidia.com/gpu=all"),
    "docker": ("--gpus", "all"),
}
# variables the step reads (directly or through Dagster, torch, Hugging Face, MLflow), by prefix
PASSED_PREFIXES = (
    "SEC_",
    "DAGSTER_",
    "SLURM_",
    "SLURMD_",
    "SUBMITIT_",
    "CUDA_",
    "CUBLAS_",
    "PYTORCH_",
    "TORCH_",
    "OMP_",
    "MKL_",
    "HF_",
    "TRANSFORMERS_",
    "TOKENIZERS_",
    "MLFLOW_",
)
PASSED_NAMES = ("PYTHONHASHSEED", "PYTHONNOUSERSITE")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Bind:
    """A host path seen inside the container; ``setting`` names where it came from (for messages)."""

    source: str
    target: str
    read_only: bool = False
    setting: str = f"{SETTING}.binds"

    @property
    def spec(self) -> str:
        """``SRC:DST[:ro]``, the form all three runtimes read."""
        return f"{self.source}:{self.target}" + (":ro" if self.read_only else "")


@dataclass(frozen=True)
class ContainerConfig:
    runtime: str
    image: str
    binds: tuple[Bind, ...] = ()
    env: tuple[str, ...] = ()
    runtime_args: tuple[str, ...] = ()
    run_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerStep:
    """What the wrapper on the node gets with a step (pickled with the job): the setting, every
    bind (shared paths, then ``binds``), values the step's environment must have inside (the
    shared paths as absolute paths), and the step's GPUs."""

    config: ContainerConfig
    binds: tuple[Bind, ...]
    env: tuple[tuple[str, str], ...]
    gpus: int


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ExecutorConfigError(f"{where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def parse_bind(spec: str, where: str) -> Bind:
    """``SRC[:DST[:ro|rw]]`` with absolute paths; ``where`` names the setting in a message."""
    parts = spec.split(":")
    mode = parts.pop() if len(parts) == 3 else "rw"
    if not 1 <= len(parts) <= 2 or mode not in ("ro", "rw"):
        raise ExecutorConfigError(f"{where}: {spec!r} is not SRC[:DST[:ro|rw]]")
    source, target = parts[0], parts[-1]
    for path in (source, target):
        if not PurePosixPath(path).is_absolute() or "," in path:
            raise ExecutorConfigError(f"{where}: {spec!r} needs absolute paths without commas")
    return Bind(os.path.normpath(source), os.path.normpath(target), mode == "ro", where)


def parse_container(value: Any, source: str = SETTING) -> ContainerConfig | None:
    """The setting from its mapping (None: no container); a bad value raises
    :class:`ExecutorConfigError` naming ``source`` (the config key or ``SEC_CONTAINER``) and the key."""
    if value is None or isinstance(value, ContainerConfig):
        return value
    if not isinstance(value, Mapping):
        raise ExecutorConfigError(f"{source} must be a mapping with runtime and image, got {value!r}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ExecutorConfigError(f"{source}: unknown key(s) {unknown}; the keys are {list(KEYS)}")
    runtime, image = value.get("runtime"), value.get("image")
    if runtime not in RUNTIMES:
        raise ExecutorConfigError(f"{source}.runtime must be one of {RUNTIMES}, got {runtime!r}")
    if not isinstance(image, str) or not image.strip() or image.startswith("-") or " " in image.strip():
        raise ExecutorConfigError(
            f"{source}.image must be an image (a SIF path or an image name), got {image!r}"
        )
    image = image.strip()
    if runtime == "apptainer":
        image = os.path.expanduser(image)
        if not PurePosixPath(image).is_absolute():
            raise ExecutorConfigError(
                f"{source}.image must be the absolute path of a SIF file (built once on the login "
                f"node: apptainer build x.sif docker-archive://x.tar), got {value.get('image')!r}"
            )
    binds = tuple(parse_bind(b, f"{source}.binds") for b in _strings(value.get("binds"), f"{source}.binds"))
    env = _strings(value.get("env"), f"{source}.env")
    bad = [name for name in env if not _NAME.fullmatch(name)]
    if bad:
        raise ExecutorConfigError(f"{source}.env must be variable names, got {bad}")
    return ContainerConfig(
        runtime=runtime,
        image=image,
        binds=binds,
        env=env,
        runtime_args=_strings(value.get("runtime_args"), f"{source}.runtime_args"),
        run_args=_strings(value.get("run_args"), f"{source}.run_args"),
    )


def step_binds(shared: Sequence[Bind], user: Sequence[Bind]) -> tuple[Bind, ...]:
    """The shared paths (in order, each at its own path) and then the user's binds; a shared path
    inside one bound before it, or inside a user's bind at the same path, is not bound again."""
    same_path = [b.source for b in user if b.source == b.target]
    kept: list[Bind] = []
    for bind in shared:
        covering = [*same_path, *(k.source for k in kept)]
        if not any(bind.source == c or bind.source.startswith(c.rstrip("/") + "/") for c in covering):
            kept.append(bind)
    return (*kept, *user)


def passed_env_names(environ: Mapping[str, str], extra: Sequence[str] = ()) -> list[str]:
    """The variables of ``environ`` that cross into the container, sorted: those of
    :data:`PASSED_PREFIXES` and :data:`PASSED_NAMES`, and ``extra`` (the setting's ``env``)."""
    wanted = set(extra) | set(PASSED_NAMES)
    return sorted(n for n in environ if n in wanted or n.startswith(PASSED_PREFIXES))


def node_command(
    container: ContainerConfig,
    gpus: int,
    binds: Sequence[Bind],
    env_names: Sequence[str],
    *,
    name: str,
    user: tuple[int, int],
) -> list[str]:
    """The argv that runs the step inside the container (a pure function: nothing is looked up).

    ``gpus`` is the step's request, ``binds`` every bind (:func:`step_binds`), ``env_names`` the
    variables that cross (:func:`passed_env_names`; Apptainer gets them through
    :func:`runtime_env` instead), ``name`` the container's name (podman, docker) and ``user`` the
    wrapper's uid and gid (docker)."""
    runtime = container.runtime
    argv = [runtime, *container.runtime_args]
    if runtime == "apptainer":
        argv += ["exec", "--cleanenv", "--no-mount", "cwd"]
    else:
        argv += ["run", "--rm", "--name", name, "--network", "host"]
        if runtime == "docker":
            argv += ["--user", f"{user[0]}:{user[1]}"]
    if gpus > 0:
        argv += GPU_FLAGS[runtime]
    flag = "--bind" if runtime == "apptainer" else "--volume"
    for bind in binds:
        argv += [flag, bind.spec]
    if runtime != "apptainer":
        for var in env_names:
            argv += ["--env", var]
    return [*argv, *container.run_args, container.image, *STEP_COMMAND]


def runtime_env(
    container: ContainerConfig, environ: Mapping[str, str], env_names: Sequence[str]
) -> dict[str, str]:
    """The environment of the runtime process: ``environ`` itself (podman and docker read the
    values of ``--env NAME`` from it), plus, for Apptainer, ``APPTAINERENV_<name>`` for every
    variable that crosses (the only ones ``--cleanenv`` lets in)."""
    env = dict(environ)
    if container.runtime == "apptainer":
        env.update({f"APPTAINERENV_{var}": environ[var] for var in env_names})
    return env


def kill_command(container: ContainerConfig, name: str) -> list[str] | None:
    """How the wrapper stops the step's container when Slurm ends the job: podman's and docker's
    containers live outside the wrapper's process group; Apptainer's processes are in it (None)."""
    if container.runtime == "apptainer":
        return None
    return [container.runtime, *container.runtime_args, "kill", name]
