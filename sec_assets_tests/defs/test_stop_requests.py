"""A stop request (the Slurm time-limit signal) is never swallowed by per-file error handling.

The step runs as it does in a Slurm job (``SEC_SLURM_STEP`` set, so the resource installs the
time-limit handler); the signal is sent while the step has one of the class's files open — inside
hashing, probing or decoding, where the per-file handlers are. The step must fail with the time-limit
message, commit no partition, record no lineage and mark no file as failed; under the asset's
``RetryPolicy`` the retry then commits exactly the rows of one successful attempt.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from dagster import DagsterInstance, materialize

from sec_assets.core.store import catalog, storage
from sec_assets.defs import ALL_ASSETS
from sec_assets.executor.protocol import STEP_ENV_FLAG, TIME_LIMIT_SIGNAL
from sec_assets.resources import SecResource
from sec_assets.testing.signals import tone

pytestmark = pytest.mark.slow
FILES = 300


@pytest.fixture
def big_class(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "birds").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(FILES):
        audio = tone(300.0 + i, 16000, 16000, amplitude=0.2) + 0.01 * rng.standard_normal(16000)
        sf.write(root / "birds" / f"call_{i:03d}.flac", audio.astype(np.float32), 16000)
    return root


@pytest.fixture
def in_a_slurm_step(monkeypatch: pytest.MonkeyPatch):
    """The step environment the executor's node wrapper gives a job; the handler is restored after."""
    previous = signal.getsignal(TIME_LIMIT_SIGNAL)
    monkeypatch.setenv(STEP_ENV_FLAG, "1")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    yield
    signal.signal(TIME_LIMIT_SIGNAL, previous)


def _signal_when_file_open(class_dir: Path, after: int) -> threading.Thread:
    """Send the time-limit signal to this process once it has the ``after``-th file (or a later one)
    of ``class_dir`` open — so it lands inside the per-file code."""
    names = sorted(p.name for p in class_dir.iterdir())[after:]
    wanted = {str(class_dir / n) for n in names}

    def watch() -> None:
        for _ in range(200_000):
            for fd in os.listdir("/proc/self/fd"):
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if target in wanted:
                    os.kill(os.getpid(), TIME_LIMIT_SIGNAL)
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _run(settings, selection: list[str]):
    with DagsterInstance.get() as instance:
        return materialize(
            ALL_ASSETS,
            selection=selection,
            partition_key="birds",
            resources={"sec": SecResource.from_settings(settings)},
            instance=instance,
            raise_on_error=False,
        )


def _failure_text(result) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1
    return failures[0].step_failure_data.error.to_string()


def _retry_text(result) -> str:
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    return retries[0].step_retry_data.error.to_string()


def test_time_limit_during_the_manifest_scan_commits_nothing(
    big_class, make_settings, dagster_home, in_a_slurm_step
):
    settings = make_settings(big_class)
    from sec_assets.instance import register_classes

    register_classes(settings)
    watcher = _signal_when_file_open(big_class / "birds", after=FILES // 3)
    result = _run(settings, ["raw_manifest"])
    watcher.join(timeout=5)
    failed = catalog.query(
        settings.home, "SELECT relative_path, error FROM audio_files WHERE status = 'failed'"
    )
    assert not result.success, f"the stop request was swallowed: files recorded as failed {failed.rows()}"
    text = _failure_text(result)
    assert "SlurmTimeLimitReached" in text and "SlurmTimeLimitError" in text  # raised at the boundary
    assert "Slurm time limit" in text and "time_min" in text
    assert not storage.partition_dir(settings.home, "raw_manifest", {"audio_class": "birds"}).exists()
    assert catalog.read_lineage(settings.home, "raw_manifest", "birds") is None
    assert catalog.query(settings.home, "SELECT count(*) FROM audio_files").item() == 0


def test_time_limit_while_segmenting_commits_nothing_and_the_retry_all_of_it(
    big_class, make_settings, dagster_home, monkeypatch, in_a_slurm_step
):
    settings = make_settings(big_class, segment_seconds=0.5, min_segment_seconds=0.1)
    from sec_assets.instance import register_classes

    register_classes(settings)
    monkeypatch.delenv(STEP_ENV_FLAG)
    assert _run(settings, ["raw_manifest", "splits"]).success
    manifest = catalog.query(settings.home, "SELECT status, count(*) AS n FROM audio_files GROUP BY 1")
    assert manifest.rows() == [("ok", FILES)]
    monkeypatch.setenv(STEP_ENV_FLAG, "1")
    watcher = _signal_when_file_open(big_class / "birds", after=FILES // 3)
    result = _run(settings, ["augmented_segments"])  # STEP_RETRY: one more attempt, no signal then
    watcher.join(timeout=5)
    assert "SlurmTimeLimitReached" in _retry_text(result) and "Slurm time limit" in _retry_text(result)
    mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert len(mats) == 1  # only the retry committed
    meta = mats[0].event_specific_data.materialization.metadata
    assert meta["files_failed_to_segment"].value == 0, f"stop request swallowed: {meta['failures']}"
    assert result.success and meta["segments"].value == 2 * FILES  # two 0.5-s segments per 1-s file
    rows = catalog.query(settings.home, "SELECT count(*), count(DISTINCT segment_key) FROM segments").row(0)
    assert rows == (2 * FILES, 2 * FILES)  # the rows of one successful attempt, none twice
