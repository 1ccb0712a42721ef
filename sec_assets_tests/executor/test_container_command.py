"""The container setting and the command that runs a step inside it (pure: exact argv per runtime)."""

import pytest

from sec_assets.executor.container import (
    STEP_COMMAND,
    Bind,
    ContainerConfig,
    kill_command,
    node_command,
    parse_container,
    passed_env_names,
    runtime_env,
    step_binds,
)
from sec_assets.executor.errors import ExecutorConfigError

STEP = list(STEP_COMMAND)
HOME = Bind("/shared/sec", "/shared/sec", False, "SEC_HOME")
DAGSTER = Bind("/shared/dagster", "/shared/dagster", False, "DAGSTER_HOME")
SCRATCH = Bind("/scratch/me", "/scratch/me", False, "executor config container.binds")
USER = (1000, 100)


def test_the_step_command_is_dagsters_with_the_early_signals_ignored():
    assert STEP[:2] == ["python", "-c"]
    code = STEP[2]
    assert "signal.signal(signal.SIGUSR1, signal.SIG_IGN)" in code
    assert "signal.signal(signal.SIGUSR2, signal.SIG_IGN)" in code
    assert "sys.argv = ['dagster', 'api', 'execute_step']" in code
    assert code.index("SIG_IGN") < code.index("run_module('dagster'")


def test_a_full_setting_is_parsed():
    config = parse_container(
        {
            "runtime": "podman",
            "image": " localhost/sec-assets:0.1.0 ",
            "binds": ["/scratch/me", "/data/ro:/data:ro", "/tmp/x/:/tmp/y:rw"],
            "env": ["WANDB_API_KEY"],
            "runtime_args": ["--runtime", "runc"],
            "run_args": ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"],
        }
    )
    assert config == ContainerConfig(
        runtime="podman",
        image="localhost/sec-assets:0.1.0",
        binds=(
            Bind("/scratch/me", "/scratch/me", False, "executor config container.binds"),
            Bind("/data/ro", "/data", True, "executor config container.binds"),
            Bind("/tmp/x", "/tmp/y", False, "executor config container.binds"),
        ),
        env=("WANDB_API_KEY",),
        runtime_args=("--runtime", "runc"),
        run_args=("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"),
    )
    assert parse_container(None) is None
    assert parse_container({"runtime": "apptainer", "image": "/i/x.sif"}) == ContainerConfig(
        "apptainer", "/i/x.sif"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("apptainer", "executor config container must be a mapping with runtime and image, got 'apptainer'"),
        (
            {"runtime": "apptainer", "image": "/x.sif", "bind": []},
            "executor config container: unknown key(s) ['bind']; the keys are "
            "['runtime', 'image', 'binds', 'env', 'runtime_args', 'run_args']",
        ),
        (
            {"runtime": "singularity", "image": "/x.sif"},
            "executor config container.runtime must be one of ('apptainer', 'podman', 'docker'), "
            "got 'singularity'",
        ),
        (
            {"runtime": "docker", "image": ""},
            "executor config container.image must be an image (a SIF path or an image name), got ''",
        ),
        (
            {"runtime": "apptainer", "image": "images/x.sif"},
            "executor config container.image must be the absolute path of a SIF file (built once on the "
            "login node: apptainer build x.sif docker-archive://x.tar), got 'images/x.sif'",
        ),
        (
            {"runtime": "apptainer", "image": "docker://sec-assets:0.1.0"},
            "executor config container.image must be the absolute path of a SIF file (built once on the "
            "login node: apptainer build x.sif docker-archive://x.tar), got 'docker://sec-assets:0.1.0'",
        ),
        (
            {"runtime": "podman", "image": "x", "binds": ["scratch"]},
            "executor config container.binds: 'scratch' needs absolute paths without commas",
        ),
        (
            {"runtime": "podman", "image": "x", "binds": ["/a:/b:rx"]},
            "executor config container.binds: '/a:/b:rx' is not SRC[:DST[:ro|rw]]",
        ),
        (
            {"runtime": "podman", "image": "x", "binds": ["/a,/b"]},
            "executor config container.binds: '/a,/b' needs absolute paths without commas",
        ),
        (
            {"runtime": "podman", "image": "x", "binds": "/a"},
            "executor config container.binds must be a list of non-empty strings, got '/a'",
        ),
        (
            {"runtime": "podman", "image": "x", "env": ["OK", "NOT-OK"]},
            "executor config container.env must be variable names, got ['NOT-OK']",
        ),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(value, message):
    with pytest.raises(ExecutorConfigError) as error:
        parse_container(value)
    assert str(error.value) == message


def test_the_source_of_the_setting_is_named():
    with pytest.raises(ExecutorConfigError, match=r"^SEC_CONTAINER\.runtime must be one of"):
        parse_container({"runtime": "lxc", "image": "x"}, "SEC_CONTAINER")


def test_apptainer_command():
    config = parse_container({"runtime": "apptainer", "image": "/shared/images/sec-assets.sif"})
    binds = [HOME, DAGSTER, Bind("/data/ro", "/data", True)]
    argv = node_command(config, 0, binds, ["SEC_HOME", "SLURM_JOB_ID"], name="sec-7-1", user=USER)
    assert argv == [
        "apptainer",
        "exec",
        "--cleanenv",
        "--no-mount",
        "cwd",
        "--bind",
        "/shared/sec:/shared/sec",
        "--bind",
        "/shared/dagster:/shared/dagster",
        "--bind",
        "/data/ro:/data:ro",
        "/shared/images/sec-assets.sif",
        *STEP,
    ]
    gpu = node_command(config, 2, [HOME], [], name="sec-7-1", user=USER)
    assert gpu == [
        "apptainer",
        "exec",
        "--cleanenv",
        "--no-mount",
        "cwd",
        "--nv",
        "--bind",
        "/shared/sec:/shared/sec",
        "/shared/images/sec-assets.sif",
        *STEP,
    ]


def test_podman_command_with_the_runtime_flags_of_a_cgroup_v1_vm():
    config = parse_container(
        {
            "runtime": "podman",
            "image": "localhost/sec-assets:0.1.0",
            "runtime_args": ["--runtime", "runc"],
            "run_args": ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1000:1000"],
        }
    )
    argv = node_command(config, 1, [HOME, SCRATCH], ["DAGSTER_HOME", "SEC_HOME"], name="sec-42-9", user=USER)
    assert argv == [
        "podman",
        "--runtime",
        "runc",
        "run",
        "--rm",
        "--name",
        "sec-42-9",
        "--network",
        "host",
        "--device",
        "nvidia.com/gpu=all",
        "--volume",
        "/shared/sec:/shared/sec",
        "--volume",
        "/scratch/me:/scratch/me",
        "--env",
        "DAGSTER_HOME",
        "--env",
        "SEC_HOME",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=1000:1000",
        "localhost/sec-assets:0.1.0",
        *STEP,
    ]


def test_docker_command():
    config = parse_container(
        {"runtime": "docker", "image": "sec-assets:0.1.0", "run_args": ["--shm-size=8g"]}
    )
    cpu = node_command(config, 0, [HOME], ["SEC_HOME"], name="sec-local-5", user=USER)
    assert cpu == [
        "docker",
        "run",
        "--rm",
        "--name",
        "sec-local-5",
        "--network",
        "host",
        "--user",
        "1000:100",
        "--volume",
        "/shared/sec:/shared/sec",
        "--env",
        "SEC_HOME",
        "--shm-size=8g",
        "sec-assets:0.1.0",
        *STEP,
    ]
    gpu = node_command(config, 1, [], [], name="n", user=(0, 0))
    assert gpu == [
        "docker",
        "run",
        "--rm",
        "--name",
        "n",
        "--network",
        "host",
        "--user",
        "0:0",
        "--gpus",
        "all",
        "--shm-size=8g",
        "sec-assets:0.1.0",
        *STEP,
    ]


def test_only_the_steps_variables_cross():
    environ = {
        "SEC_HOME": "/h",
        "DAGSTER_HOME": "/d",
        "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS": "abc",
        "DAGSTER_PG_PASSWORD": "pw",
        "SLURM_CPUS_PER_TASK": "4",
        "SLURMD_NODENAME": "gpu1",
        "CUDA_VISIBLE_DEVICES": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": "/host/site-packages",
        "LD_LIBRARY_PATH": "/host/lib",
        "VIRTUAL_ENV": "/shared/venv",
        "PATH": "/usr/bin",
        "TMPDIR": "/local/job",
        "WANDB_API_KEY": "k",
    }
    assert passed_env_names(environ, ["WANDB_API_KEY", "NOT_SET"]) == [
        "CUDA_VISIBLE_DEVICES",
        "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS",
        "DAGSTER_HOME",
        "DAGSTER_PG_PASSWORD",
        "HF_HUB_OFFLINE",
        "PYTHONHASHSEED",
        "SEC_HOME",
        "SLURMD_NODENAME",
        "SLURM_CPUS_PER_TASK",
        "WANDB_API_KEY",
    ]


def test_apptainer_gets_the_values_through_its_prefix_the_others_from_their_environment():
    environ = {"PATH": "/usr/bin", "SEC_HOME": "/h", "DAGSTER_HOME": "/d"}
    apptainer = parse_container({"runtime": "apptainer", "image": "/x.sif"})
    assert runtime_env(apptainer, environ, ["SEC_HOME", "DAGSTER_HOME"]) == {
        "PATH": "/usr/bin",
        "SEC_HOME": "/h",
        "DAGSTER_HOME": "/d",
        "APPTAINERENV_SEC_HOME": "/h",
        "APPTAINERENV_DAGSTER_HOME": "/d",
    }
    podman = parse_container({"runtime": "podman", "image": "x"})
    assert runtime_env(podman, environ, ["SEC_HOME"]) == environ


def test_a_shared_path_inside_another_bind_is_not_bound_again():
    models = Bind("/shared/sec/models", "/shared/sec/models", False, "SEC_MODELS")
    landing = Bind("/shared/landing", "/shared/landing", False, "SEC_AUDIO_ROOT")
    secret = Bind("/shared/sec-other", "/shared/sec-other", False, "SEC_INBOX")  # a prefix, not inside
    user_all = Bind("/shared", "/shared", False)
    user_moved = Bind("/shared/landing", "/landing", True)
    assert step_binds([HOME, models, landing, secret], []) == (HOME, landing, secret)
    assert step_binds([HOME, models, landing], [user_all]) == (user_all,)
    assert step_binds([HOME, landing], [user_moved]) == (HOME, landing, user_moved)


def test_podman_and_docker_containers_are_killed_by_name():
    podman = parse_container({"runtime": "podman", "image": "x", "runtime_args": ["--runtime", "runc"]})
    docker = parse_container({"runtime": "docker", "image": "x"})
    apptainer = parse_container({"runtime": "apptainer", "image": "/x.sif"})
    assert kill_command(podman, "sec-1-2") == ["podman", "--runtime", "runc", "kill", "sec-1-2"]
    assert kill_command(docker, "sec-1-2") == ["docker", "kill", "sec-1-2"]
    assert kill_command(apptainer, "sec-1-2") is None
