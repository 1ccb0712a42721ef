"""One exclusive file lock for every writer that several processes (steps, Slurm jobs, the
daemon) may run at once: the partition store, the catalog, the MLflow SQLite store, the model
store. ``flock`` on an open file is released by the kernel when the process dies, so a killed
job never leaves a stale lock behind (a lock file with a PID in it would).

Written by hand: ``fcntl.flock`` is the whole mechanism, and the libraries that wrap it
(filelock, portalocker) add polling and Windows paths this project does not need.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created with its parent folder if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
