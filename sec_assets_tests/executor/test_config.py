"""The executor's settings: run config ← environment ← built-in defaults; bad values are named."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sec_assets.executor import (
    CONFIG_SCHEMA,
    ENV_SETTINGS,
    EXECUTOR_MODES,
    ExecutorConfigError,
    SubmititConfig,
    env_defaults,
    executor_mode,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_has_one_env_variable_and_a_config_key():
    variables = [s.var for s in ENV_SETTINGS]
    keys = [s.key for s in ENV_SETTINGS]
    assert len(set(variables)) == len(variables) and len(set(keys)) == len(keys)
    assert all(key in CONFIG_SCHEMA for key in keys)
    # the schema itself holds no value read from the environment: every env-backed key is unset
    assert all(CONFIG_SCHEMA[key].default_value is None for key in keys)


def test_defaults_without_environment():
    values = env_defaults({})
    assert values["mode"] == "local" and values["cpus"] == 2 and values["mem_gb"] == 4.0
    assert values["time_min"] == 60 and values["signal_delay_s"] == 60 and values["poll_interval_s"] == 5.0
    assert values["partition"] is None and values["gpu_partition"] == "gpu"
    assert values["folder"] == str(Path(".sec") / "submitit")
    assert env_defaults({"SEC_HOME": "/data/sec"})["folder"] == "/data/sec/submitit"
    assert (
        env_defaults({"SEC_HOME": "/data/sec", "SEC_SUBMITIT_FOLDER": "/shared/j"})["folder"] == "/shared/j"
    )


def test_environment_values_are_typed_and_blank_means_unset():
    values = env_defaults(
        {
            "SEC_SLURM_CPUS": " 8 ",
            "SEC_SLURM_MEM_GB": "0.5",
            "SEC_SLURM_PARTITION": "",
            "SEC_EXECUTOR": " slurm",
        }
    )
    assert values["cpus"] == 8 and values["mem_gb"] == 0.5 and values["partition"] is None
    assert values["mode"] == "slurm"


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("SEC_SLURM_CPUS", "two", "must be a whole number >= 1"),
        ("SEC_SLURM_CPUS", "0", "must be a whole number >= 1"),
        ("SEC_SLURM_TIME_MIN", "1.5", "must be a whole number >= 1"),
        ("SEC_SLURM_SIGNAL_DELAY_S", "-5", "must be a whole number >= 0"),
        ("SEC_SUBMITIT_MAX_CONCURRENT", "many", "must be a whole number >= 1"),
        ("SEC_SLURM_MEM_GB", "4GB", "must be a number > 0 (e.g. 4 or 0.5)"),
        ("SEC_SLURM_MEM_GB", "nan", "must be a number > 0 (e.g. 4 or 0.5)"),
        ("SEC_SUBMITIT_POLL_S", "0", "must be a number > 0 (e.g. 4 or 0.5)"),
        ("SEC_EXECUTOR", "pbs", "must be one of ('slurm', 'local', 'debug') or unset"),
    ],
)
def test_a_bad_environment_value_is_refused_with_its_name(variable, value, allowed):
    with pytest.raises(ExecutorConfigError) as error:
        env_defaults({variable: value})
    assert str(error.value) == f"{variable} {allowed}, got {value!r}"
    assert isinstance(error.value, ValueError)


def test_executor_mode():
    assert EXECUTOR_MODES == ("slurm", "local", "debug")
    assert executor_mode({}) is None and executor_mode({"SEC_EXECUTOR": "  "}) is None
    assert [executor_mode({"SEC_EXECUTOR": m}) for m in EXECUTOR_MODES] == list(EXECUTOR_MODES)
    with pytest.raises(ExecutorConfigError, match=r"^SEC_EXECUTOR must be one of .* got 'Slurm'$"):
        executor_mode({"SEC_EXECUTOR": "Slurm"})


def _run_config(**values):
    config = {k: (f.default_value if f.default_provided else None) for k, f in CONFIG_SCHEMA.items()}
    config.update(values)
    return config


def test_run_config_wins_over_the_environment_which_wins_over_defaults():
    env = {"SEC_SLURM_CPUS": "4", "SEC_SLURM_TIME_MIN": "30", "SEC_EXECUTOR": "slurm"}
    config = SubmititConfig.from_dagster(_run_config(cpus=16), env)
    assert (config.cpus, config.time_min, config.mem_gb, config.mode) == (16, 30, 4.0, "slurm")
    # an explicit config value needs no (valid) environment
    assert SubmititConfig.from_dagster(_run_config(cpus=16), {"SEC_SLURM_CPUS": "x"}).cpus == 16
    with pytest.raises(ExecutorConfigError, match="SEC_SLURM_CPUS must be a whole number"):
        SubmititConfig.from_dagster(_run_config(), {"SEC_SLURM_CPUS": "x"})
    with pytest.raises(ExecutorConfigError, match="executor config 'mode' must be one of"):
        SubmititConfig.from_dagster(_run_config(mode="pbs"), {})


def test_importing_the_executor_reads_no_environment_variable():
    """Bad values do not break an import (nothing is read then); no SEC_* is read by sec_assets."""
    code = textwrap.dedent(
        """
        import os, sys
        read = set()

        class Spy(type(os.environ)):
            def __getitem__(self, key):
                frame = sys._getframe(1)
                for _ in range(4):  # .get / `in` / os.getenv add frames
                    if frame is None:
                        break
                    if "/sec_assets/" in frame.f_code.co_filename and key.startswith("SEC_"):
                        read.add(key)
                    frame = frame.f_back
                return super().__getitem__(key)

        os.environ.__class__ = Spy
        import sec_assets.executor
        import sec_assets.resources
        assert not read, read
        print("ok")
        """
    )
    env = {**os.environ, "SEC_SLURM_CPUS": "two", "SEC_SLURM_MEM_GB": "lots", "SEC_EXECUTOR": "pbs"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_container_setting_from_the_run_config_or_sec_container():
    from sec_assets.executor.container import ContainerConfig

    assert SubmititConfig.from_dagster(_run_config(), {}).container is None
    run = {"runtime": "apptainer", "image": "/shared/images/sec-assets.sif", "binds": [], "env": []}
    assert SubmititConfig.from_dagster(_run_config(container=run), {}).container == ContainerConfig(
        "apptainer", "/shared/images/sec-assets.sif"
    )
    env = {"SEC_CONTAINER": "{runtime: podman, image: 'sec-assets:0.1.0', runtime_args: [--runtime, runc]}"}
    assert SubmititConfig.from_dagster(_run_config(), env).container == ContainerConfig(
        "podman", "sec-assets:0.1.0", runtime_args=("--runtime", "runc")
    )
    json_env = {"SEC_CONTAINER": '{"runtime": "docker", "image": "sec-assets:0.1.0"}'}
    assert SubmititConfig.from_dagster(_run_config(), json_env).container == ContainerConfig(
        "docker", "sec-assets:0.1.0"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("apptainer", "SEC_CONTAINER must be a mapping with runtime and image, got 'apptainer'"),
        (
            "{runtime: lxc, image: x}",
            "SEC_CONTAINER.runtime must be one of ('apptainer', 'podman', 'docker'), got 'lxc'",
        ),
        ("{runtime: [", "SEC_CONTAINER must be a YAML or JSON mapping: "),
    ],
)
def test_a_bad_sec_container_is_refused_with_its_name(value, message):
    with pytest.raises(ExecutorConfigError) as error:
        env_defaults({"SEC_CONTAINER": value})
    assert str(error.value).startswith(message)


def test_python_that_starts_a_container_and_container_are_not_combined():
    container = {"runtime": "apptainer", "image": "/x.sif", "binds": [], "env": []}
    python = "apptainer exec --nv /x.sif python"
    with pytest.raises(ExecutorConfigError) as error:
        SubmititConfig.from_dagster(_run_config(container=container), {"SEC_NODE_PYTHON": python})
    assert str(error.value) == (
        f"executor config container (apptainer) and python ({python!r}, SEC_NODE_PYTHON) both start a "
        "container: with container, python is the job wrapper's interpreter on the node; unset one of them"
    )
    # a venv's python stays the wrapper's interpreter
    config = SubmititConfig.from_dagster(
        _run_config(container=container, python="/shared/venv/bin/python"), {}
    )
    assert config.python == "/shared/venv/bin/python" and config.container is not None


def test_a_campaigns_container_is_checked_by_the_same_rules():
    from sec_assets.executor.config import check_config

    assert check_config({"container": {"runtime": "podman", "image": "x"}}) == {}
    assert check_config({"container": {"runtime": "podman"}}) == {
        "container": "container.image must be an image (a SIF path or an image name), got None"
    }
