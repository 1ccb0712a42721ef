"""Whether a step's container can start — checked before any work — and the image's identity.

**Where the checks run.** :func:`check_container` runs on the node, in the job wrapper, before the
step starts (``on_node=True``): the runtime on ``PATH``, the image (the SIF file for Apptainer;
``podman image exists`` / ``docker image inspect`` for the others) and every bind's source. That
is the check that must exist: only the node can say what the node has — the runtime often comes
from a ``module load`` in the executor's ``setup``, podman's and docker's images are stored per
node, and a bind such as a node-local scratch or a SIF staged to local disk exists only there. A
failure raises :class:`ContainerUnavailable`; the job fails at once and the step's failure
carries the message (the tail of the job's stderr), which names the setting.

On the orchestrator, when a step is submitted (``on_node=False``), only the shared paths the
executor binds itself (``SEC_HOME``, ``DAGSTER_HOME``, the submitit folder) are checked: they
are on storage every node sees, so a missing one fails the run before a job is queued. The
runtime, the image and the user's binds are not checked there: a login node may have no runtime
and no images, and need not see node-local paths.

No Dagster here: the wrapper imports this module on the node.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from sec_assets.executor.container import SETTING, Bind, ContainerConfig
from sec_assets.executor.errors import ExecutorConfigError

RUNTIME_TIMEOUT_S = 120.0  # a runtime's answer about an image (its storage may be on a slow disk)
DAGSTER_HOME = "DAGSTER_HOME"
FOLDER = "executor config folder"  # the submitit folder, as a message names it
SHARED_SETTINGS = ("SEC_HOME", DAGSTER_HOME, FOLDER)  # the binds checked when a step is submitted


class ContainerUnavailable(ExecutorConfigError):
    """The step's container cannot start here: no runtime, no image, or a bind without its source."""


def _node(environ: Mapping[str, str]) -> str:
    return f"node {environ.get('SLURMD_NODENAME') or socket.gethostname()}"


def _run(argv: list[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, env=dict(environ), timeout=RUNTIME_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ContainerUnavailable(
            f"{SETTING}.runtime: `{' '.join(argv)}` gave no answer in {RUNTIME_TIMEOUT_S:g} s"
        ) from exc


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _inspect_argv(container: ContainerConfig) -> list[str]:
    """The command that prints the image's ID (podman and docker)."""
    return [
        container.runtime,
        *container.runtime_args,
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        container.image,
    ]


def _image_argv(container: ContainerConfig) -> list[str]:
    """The command whose exit status says whether podman or docker has the image."""
    if container.runtime == "podman":
        return ["podman", *container.runtime_args, "image", "exists", container.image]
    return _inspect_argv(container)


def check_binds(binds: Sequence[Bind], environ: Mapping[str, str], only: Sequence[str] | None = None) -> None:
    """Every bind's source exists (``only``: those binds whose setting is listed)."""
    for bind in binds:
        if (only is None or bind.setting in only) and not os.path.exists(bind.source):
            raise ContainerUnavailable(
                f"{bind.setting}: {bind.source} does not exist on {_node(environ)} "
                f"(it is bound into the container at {bind.target})"
            )


def check_container(
    container: ContainerConfig,
    binds: Sequence[Bind],
    *,
    on_node: bool = True,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`ContainerUnavailable`, naming the setting, unless the step's container can
    start here (``environ``: the environment the runtime will run with, default ``os.environ``).
    See the module docstring for what each side checks."""
    environ = os.environ if environ is None else environ
    if not on_node:
        check_binds(binds, environ, SHARED_SETTINGS)
        return
    node = _node(environ)
    if shutil.which(container.runtime, path=environ.get("PATH", os.defpath)) is None:
        raise ContainerUnavailable(
            f"{SETTING}.runtime: {container.runtime!r} is not on PATH on {node} "
            "(a `module load` in the executor's setup puts it there on many clusters)"
        )
    if container.runtime == "apptainer":
        if not os.path.isfile(container.image):
            raise ContainerUnavailable(f"{SETTING}.image: no SIF at {container.image} on {node}")
    else:
        argv = _image_argv(container)
        done = _run(argv, environ)
        if done.returncode != 0:
            said = _last_line(done.stderr)
            raise ContainerUnavailable(
                f"{SETTING}.image: {container.runtime} has no image {container.image!r} on {node} "
                f"(`{' '.join(argv)}` exited {done.returncode}{': ' + said if said else ''}); "
                f"load it there ({container.runtime} load -i <archive>)"
            )
    check_binds(binds, environ)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def container_identity(
    container: ContainerConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What names the environment a step ran in, for its lineage: the runtime, the image as
    configured and its digest — ``sha256:<hex>`` of the SIF file (Apptainer; reads the whole
    file), or the image ID podman or docker report (``image inspect --format {{.Id}}``; the
    digest of the image's config, ``sha256:``-prefixed as docker writes it, podman does not).
    Raises :class:`ContainerUnavailable` when there is no such image."""
    environ = os.environ if environ is None else environ
    if container.runtime == "apptainer":
        try:
            digest = "sha256:" + file_sha256(Path(container.image))
        except OSError as exc:
            raise ContainerUnavailable(
                f"{SETTING}.image: cannot read the SIF {container.image}: {exc}"
            ) from exc
    else:
        argv = _inspect_argv(container)
        done = _run(argv, environ)
        image_id = done.stdout.strip()
        if done.returncode != 0 or not image_id:
            raise ContainerUnavailable(
                f"{SETTING}.image: `{' '.join(argv)}` exited {done.returncode}: {_last_line(done.stderr)}"
            )
        digest = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
    return {
        "container_runtime": container.runtime,
        "container_image": container.image,
        "container_digest": digest,
    }
