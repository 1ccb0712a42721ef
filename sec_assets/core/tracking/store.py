"""Where MLflow runs go: the tracking URI of the settings (default a SQLite file under home,
artifacts beside it — no server needed; on a cluster an ``mlflow server``), the experiment, and
links to the UI.

MLflow's client keeps the tracking URI in process-global state; :func:`tracking` sets it for a
block and puts a previously set one back, so one process can serve several homes (tests, notebooks).
A fresh SQLite store runs MLflow's schema migrations on first use; :func:`experiment` does that
under a file lock, so parallel steps on one laptop never race them (on a cluster use a server:
one SQLite file shared by nodes is what MLflow's users report as "database is locked").

MLflow is imported on first use, here and in :mod:`.runs` and :mod:`.registry`: it costs ≈ 0.6–1 s
(with pandas) of every process that loads the definitions — each Slurm step, CLI call and run
worker — and only training, evaluation and inference use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sec_assets.core.locks import file_lock

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix(SQLITE_PREFIX)) if uri.startswith(SQLITE_PREFIX) else None


@contextlib.contextmanager
def tracking(uri: str) -> Iterator[MlflowClient]:
    """MLflow's tracking and registry URI set to ``uri`` for the block; yields a client."""
    import mlflow

    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield mlflow.MlflowClient(uri, registry_uri=uri)
    finally:
        if before is not None:  # else left set: MLflow has no public "unset", and ours all set it
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(db.parent / "mlflow.lock"):
        yield


def experiment(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment ``name``, created on first use (SQLite: artifacts in ``artifacts/``
    beside the database; a server: its own artifact root)."""
    with _store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        db = sqlite_path(uri)
        location = (db.parent / "artifacts").as_uri() if db is not None else None
        return str(client.create_experiment(name, artifact_location=location))


def ui_base(uri: str, ui_url: str | None) -> str | None:
    """The MLflow UI's base URL: the setting, else an http(s) tracking URI, else none."""
    if ui_url:
        return ui_url.rstrip("/")
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None


def run_link(base: str | None, experiment_id: str, run_id: str) -> str | None:
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}" if base else None


def model_link(base: str | None, name: str, version: str) -> str | None:
    return f"{base}/#/models/{name}/versions/{version}" if base else None


def cluster_warning(uri: str, environ: Mapping[str, str]) -> str | None:
    """A warning when a Slurm job logs to a SQLite store (shared by every node's jobs)."""
    if sqlite_path(uri) is None or "SLURM_JOB_ID" not in environ:
        return None
    return (
        f"this Slurm job logs to the SQLite MLflow store {uri}: concurrent jobs on several nodes "
        "can fail with 'database is locked'; set SEC_MLFLOW_TRACKING_URI to an mlflow server "
        "(scripts/local_mlflow.sh up, see the README)"
    )
