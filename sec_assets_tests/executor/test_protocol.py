"""Wrapper ↔ step resource: the time-limit error and its handler; old job pickles still load."""

import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sec_assets.executor
from sec_assets.executor import SlurmTimeLimitError, install_time_limit_handler, run_dagster_step
from sec_assets.executor.protocol import SIGNAL_DELAY_ENV, STEP_ENV_FLAG, TIME_LIMIT_SIGNAL, step_env
from sec_assets.resources import SecResource


def test_the_time_limit_error_is_no_exception_a_handler_could_swallow():
    assert issubclass(SlurmTimeLimitError, BaseException)
    assert not issubclass(SlurmTimeLimitError, Exception)
    assert not issubclass(SlurmTimeLimitError, KeyboardInterrupt)


@pytest.fixture
def restore_time_limit_handler():
    previous = signal.getsignal(TIME_LIMIT_SIGNAL)
    yield
    signal.signal(TIME_LIMIT_SIGNAL, previous)


def test_the_installed_handler_raises_the_time_limit_error(monkeypatch, restore_time_limit_handler):
    monkeypatch.setenv(STEP_ENV_FLAG, "1")
    monkeypatch.setenv(SIGNAL_DELAY_ENV, "45")
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    assert install_time_limit_handler()
    with pytest.raises(SlurmTimeLimitError) as error:
        try:
            signal.raise_signal(TIME_LIMIT_SIGNAL)
        except Exception:  # per-file error handling in an asset
            pytest.fail("the stop request was swallowed")
    assert str(error.value) == (
        "Slurm time limit: job 777 was signalled 45 s before its time limit and stopped cleanly "
        "(nothing partial was written). Raise time_min in the asset's sec/resources tag or with the "
        "run tag sec/slurm/time_min."
    )


def test_no_handler_outside_a_step_started_by_the_wrapper(monkeypatch, restore_time_limit_handler):
    monkeypatch.delenv(STEP_ENV_FLAG, raising=False)
    before = signal.getsignal(TIME_LIMIT_SIGNAL)
    assert not install_time_limit_handler()
    assert signal.getsignal(TIME_LIMIT_SIGNAL) is before


def test_the_resource_installs_it(monkeypatch, restore_time_limit_handler, tmp_path):
    monkeypatch.setenv(STEP_ENV_FLAG, "1")
    SecResource(home=str(tmp_path), audio_root=str(tmp_path), models=str(tmp_path)).setup_for_execution(
        None  # type: ignore[arg-type]
    )
    with pytest.raises(SlurmTimeLimitError, match="Slurm time limit"):
        signal.raise_signal(TIME_LIMIT_SIGNAL)


def test_the_wrapper_gives_the_step_the_protocol_env():
    wait = "DAGSTER_COMPUTE_LOG_TAIL_WAIT_AFTER_FINISH"  # the job's log keeps the step's last lines
    assert step_env(45, {}) == {"SEC_SLURM_STEP": "1", "SEC_SLURM_SIGNAL_DELAY_S": "45", wait: "1.5"}
    assert step_env(45, {wait: "5"})[wait] == "5"  # the user's own value wins


def test_protocol_needs_no_dagster():
    path = Path(sec_assets.executor.__file__).with_name("protocol.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('protocol', {str(path)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "assert not any(m.split('.')[0] == 'dagster' for m in sys.modules), 'dagster imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# how job pickles (cloudpickle, protocol 5; by reference) named the wrapper before the package split
OLD_REFERENCE = (
    b"\x80\x05\x95,\x00\x00\x00\x00\x00\x00\x00\x8c\x13sec_assets.executor\x94"
    b"\x8c\x10run_dagster_step\x94\x93\x94."
)


def test_jobs_queued_before_the_split_still_find_the_wrapper():
    assert pickle.loads(OLD_REFERENCE) is run_dagster_step
    assert pickle.loads(b"csec_assets.executor\nrun_dagster_step\n.") is run_dagster_step  # protocol 0
    # new pickles name the module it lives in now, and load too
    assert pickle.loads(pickle.dumps(run_dagster_step)) is run_dagster_step


def test_the_node_wrapper_starts_without_importing_dagster():
    """A job's interpreter must reach the wrapper's signal handlers fast: Slurm's early time-limit
    signal can come seconds after the job starts, and kills a process that has no handler yet."""
    import subprocess
    import sys

    code = (
        "import pickle, sys; f = pickle.loads(b'csec_assets.executor\\nrun_dagster_step\\n.');"
        "print(f.__module__, sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "sec_assets.executor.node []"
