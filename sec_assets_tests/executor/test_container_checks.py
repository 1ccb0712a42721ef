"""Before any work, a step's container is checked (fake runtimes on a temporary PATH); the image's
identity; the shared paths of a run; the job wrapper starting a step inside a container."""

import hashlib
import os
import shlex
import signal
from pathlib import Path

import pytest

from sec_assets.executor.container import STEP_COMMAND, Bind, ContainerStep, parse_container
from sec_assets.executor.container_checks import ContainerUnavailable, check_container, container_identity
from sec_assets.executor.container_plan import shared_paths
from sec_assets.executor.errors import ExecutorConfigError
from sec_assets.executor.node import run_dagster_step

IMAGE_ID = "4f3c2b1a" * 8  # 64 hex digits, as podman prints an image ID


def fake_runtime(bin_dir: Path, name: str, images: dict[str, str], record: Path | None = None) -> Path:
    """A stand-in for podman or docker: `image exists|inspect` knows ``images`` (name → ID);
    `run`/`kill` write their arguments (one per line) and the environment to ``record``."""
    bin_dir.mkdir(exist_ok=True)
    known = " ".join(shlex.quote(i) for i in images)
    ids = "\n".join(f"    {shlex.quote(i)}) echo {shlex.quote(v)} ;;" for i, v in images.items())
    record = record or bin_dir / "record"
    script = bin_dir / name
    script.write_text(
        f"""#!/bin/sh
while [ "${{1#--}}" != "$1" ]; do shift 2; done   # global flags (--flag value)
case "$1 $2" in
  "image exists") for i in {known}; do [ "$i" = "$3" ] && exit 0; done; exit 1 ;;
  "image inspect")
    eval last=\\${{$#}}
    case "$last" in
{ids}
    *) echo "Error: $last: image not known" >&2; exit 125 ;;
    esac ;;
esac
printf '%s\\n' "$@" > {shlex.quote(str(record))}.argv
env > {shlex.quote(str(record))}.env
exit 0
"""
    )
    script.chmod(0o755)
    return script


def env_with(bin_dir: Path, **values: str) -> dict[str, str]:
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "SLURMD_NODENAME": "gpu1", **values}


def test_a_missing_runtime_is_named(tmp_path):
    config = parse_container({"runtime": "podman", "image": "sec-assets:0.1.0"})
    with pytest.raises(ContainerUnavailable) as error:
        check_container(config, [], environ=env_with(tmp_path / "empty"))
    assert str(error.value) == (
        "executor config container.runtime: 'podman' is not on PATH on node gpu1 "
        "(a `module load` in the executor's setup puts it there on many clusters)"
    )


def test_a_missing_sif_is_named(tmp_path):
    fake_runtime(tmp_path / "bin", "apptainer", {})
    sif = tmp_path / "images" / "sec-assets.sif"
    config = parse_container({"runtime": "apptainer", "image": str(sif)})
    with pytest.raises(ContainerUnavailable) as error:
        check_container(config, [], environ=env_with(tmp_path / "bin"))
    assert str(error.value) == f"executor config container.image: no SIF at {sif} on node gpu1"
    sif.parent.mkdir()
    sif.write_bytes(b"SIF")
    check_container(config, [], environ=env_with(tmp_path / "bin"))  # no error


@pytest.mark.parametrize(("runtime", "command", "code"), [("podman", "image exists", 1), ("docker", "", 125)])
def test_an_image_the_runtime_lacks_is_named(tmp_path, runtime, command, code):
    fake_runtime(tmp_path / "bin", runtime, {"sec-assets:0.1.0": IMAGE_ID})
    config = parse_container({"runtime": runtime, "image": "sec-assets:0.2.0"})
    with pytest.raises(ContainerUnavailable) as error:
        check_container(config, [], environ=env_with(tmp_path / "bin"))
    asked = f"{runtime} image exists" if command else f"{runtime} image inspect --format {{{{.Id}}}}"
    said = "" if command else ": Error: sec-assets:0.2.0: image not known"
    assert str(error.value) == (
        f"executor config container.image: {runtime} has no image 'sec-assets:0.2.0' on node gpu1 "
        f"(`{asked} sec-assets:0.2.0` exited {code}{said}); load it there ({runtime} load -i <archive>)"
    )
    known = parse_container(
        {"runtime": runtime, "image": "sec-assets:0.1.0", "runtime_args": ["--log-level", "x"]}
    )
    check_container(known, [], environ=env_with(tmp_path / "bin"))  # global flags skipped by the fake


def test_a_bind_without_its_source_is_named(tmp_path):
    fake_runtime(tmp_path / "bin", "podman", {"x": IMAGE_ID})
    home = tmp_path / "home"
    home.mkdir()
    config = parse_container({"runtime": "podman", "image": "x", "binds": [f"{tmp_path}/scratch:/scratch"]})
    binds = [Bind(str(home), str(home), False, "SEC_HOME"), *config.binds]
    with pytest.raises(ContainerUnavailable) as error:
        check_container(config, binds, environ=env_with(tmp_path / "bin"))
    assert str(error.value) == (
        f"executor config container.binds: {tmp_path}/scratch does not exist on node gpu1 "
        "(it is bound into the container at /scratch)"
    )
    # at submit time only the shared paths are checked: the user's binds may be node-local
    check_container(config, binds, on_node=False, environ=env_with(tmp_path / "empty"))
    home.rmdir()
    with pytest.raises(ContainerUnavailable, match=rf"^SEC_HOME: {home} does not exist on node gpu1 "):
        check_container(config, binds, on_node=False, environ=env_with(tmp_path / "empty"))


def test_the_identity_of_a_sif_is_its_sha256(tmp_path):
    sif = tmp_path / "sec-assets.sif"
    content = os.urandom(3 * (1 << 20) + 17)  # more than one read
    sif.write_bytes(content)
    config = parse_container({"runtime": "apptainer", "image": str(sif)})
    assert container_identity(config, env_with(tmp_path / "empty")) == {
        "container_runtime": "apptainer",
        "container_image": str(sif),
        "container_digest": "sha256:" + hashlib.sha256(content).hexdigest(),
    }
    sif.unlink()
    with pytest.raises(
        ContainerUnavailable, match=rf"^executor config container.image: cannot read the SIF {sif}"
    ):
        container_identity(config)


@pytest.mark.parametrize(("runtime", "printed"), [("podman", IMAGE_ID), ("docker", f"sha256:{IMAGE_ID}")])
def test_the_identity_of_an_image_is_the_id_its_runtime_reports(tmp_path, runtime, printed):
    fake_runtime(tmp_path / "bin", runtime, {"sec-assets:0.1.0": printed})
    config = parse_container({"runtime": runtime, "image": "sec-assets:0.1.0"})
    assert container_identity(config, env_with(tmp_path / "bin")) == {
        "container_runtime": runtime,
        "container_image": "sec-assets:0.1.0",
        "container_digest": f"sha256:{IMAGE_ID}",
    }
    missing = parse_container({"runtime": runtime, "image": "other"})
    with pytest.raises(ContainerUnavailable) as error:
        container_identity(missing, env_with(tmp_path / "bin"))
    assert str(error.value) == (
        f"executor config container.image: `{runtime} image inspect --format {{{{.Id}}}} other` exited 125: "
        "Error: other: image not known"
    )


def test_the_shared_paths_of_a_run(tmp_path):
    home, dagster, landing = tmp_path / "sec", tmp_path / "dagster", tmp_path / "landing"
    for path in (home, dagster, landing, home / "models"):
        path.mkdir()
    settings_file = tmp_path / "sec.yaml"
    settings_file.write_text("seed: 3\n")
    config = parse_container({"runtime": "podman", "image": "x", "binds": ["/scratch"]})
    environ = {
        "SEC_HOME": str(home),
        "SEC_AUDIO_ROOT": str(landing),
        "SEC_CONFIG": str(settings_file),
        "DAGSTER_HOME": str(dagster),
    }
    binds, env = shared_paths(config, home / "submitit", environ)
    assert binds == (
        Bind(str(home), str(home), False, "SEC_HOME"),
        Bind(str(dagster), str(dagster), False, "DAGSTER_HOME"),
        # the submitit folder and the model store are inside SEC_HOME; the inbox does not exist
        Bind(str(landing), str(landing), False, "SEC_AUDIO_ROOT"),
        Bind(str(settings_file), str(settings_file), False, "SEC_CONFIG"),
        Bind("/scratch", "/scratch", False, "executor config container.binds"),
    )
    assert dict(env) == {
        "DAGSTER_HOME": str(dagster),
        "PYTHONNOUSERSITE": "1",
        "SEC_AUDIO_ROOT": str(landing),
        "SEC_CONFIG": str(settings_file),
        "SEC_HOME": str(home),
        "SEC_INBOX": str(home / "inbox"),
        "SEC_MODELS": str(home / "models"),
    }
    with pytest.raises(ExecutorConfigError, match=r"^DAGSTER_HOME is not set: steps in a container need"):
        shared_paths(config, home / "submitit", {k: v for k, v in environ.items() if k != "DAGSTER_HOME"})


def test_relative_settings_are_made_absolute_from_the_orchestrators_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagster").mkdir()
    (tmp_path / "sec.yaml").write_text("home: .sec\n")  # relative, as the project's own file
    config = parse_container({"runtime": "docker", "image": "x"})
    environ = {"SEC_CONFIG": "sec.yaml", "DAGSTER_HOME": "dagster"}
    binds, env = shared_paths(config, tmp_path / ".sec" / "submitit", environ)
    home, dagster, file = (str(tmp_path / p) for p in (".sec", "dagster", "sec.yaml"))
    assert [b.source for b in binds] == [home, dagster, file]
    assert (dict(env)["SEC_HOME"], dict(env)["DAGSTER_HOME"], dict(env)["SEC_CONFIG"]) == (
        home,
        dagster,
        file,
    )


def _step(tmp_path: Path, runtime: str = "podman", image: str = "sec-assets:0.1.0") -> ContainerStep:
    home = tmp_path / "sec"
    home.mkdir(exist_ok=True)
    config = parse_container({"runtime": runtime, "image": image})
    return ContainerStep(
        config, (Bind(str(home), str(home), False, "SEC_HOME"),), (("SEC_HOME", str(home)),), gpus=0
    )


def test_the_wrapper_starts_the_step_inside_the_container(tmp_path, monkeypatch):
    fake_runtime(tmp_path / "bin", "podman", {"sec-assets:0.1.0": IMAGE_ID}, tmp_path / "run")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("PYTHONPATH", "/host/only")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    step = _step(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    assert run_dagster_step({"DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS": "xyz"}, 45, step) == 0
    assert signal.getsignal(signal.SIGTERM) == before
    argv = (tmp_path / "run.argv").read_text().splitlines()
    home = str(tmp_path / "sec")
    assert argv[:8] == [
        "run",
        "--rm",
        "--name",
        f"sec-77-{os.getpid()}",
        "--network",
        "host",
        "--volume",
        f"{home}:{home}",
    ]
    assert argv[-4:] == ["sec-assets:0.1.0", *STEP_COMMAND]
    crossing = {argv[i + 1] for i, a in enumerate(argv) if a == "--env"}
    assert {
        "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS",
        "SEC_HOME",
        "SEC_SLURM_STEP",
        "SEC_SLURM_SIGNAL_DELAY_S",
    } <= crossing
    assert {"SLURM_JOB_ID", "DAGSTER_COMPUTE_LOG_TAIL_WAIT_AFTER_FINISH"} <= crossing
    assert "PYTHONPATH" not in crossing and "PATH" not in crossing
    env = dict(line.split("=", 1) for line in (tmp_path / "run.env").read_text().splitlines() if "=" in line)
    assert (
        env["DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"],
        env["SEC_SLURM_SIGNAL_DELAY_S"],
        env["SEC_HOME"],
    ) == (
        "xyz",
        "45",
        home,
    )


def test_the_wrapper_fails_before_any_work_when_the_image_is_missing(tmp_path, monkeypatch):
    fake_runtime(tmp_path / "bin", "podman", {}, tmp_path / "run")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    with pytest.raises(ContainerUnavailable, match=r"^executor config container.image: podman has no image"):
        run_dagster_step({}, 45, _step(tmp_path))
    assert not (tmp_path / "run.argv").exists()  # nothing was started


def test_the_step_handler_gives_each_step_its_container_and_checks_the_shared_paths(tmp_path, monkeypatch):
    from sec_assets.executor.handler import SubmititStepHandler
    from sec_assets_tests.executor.helpers import make_config

    home, dagster = tmp_path / "sec", tmp_path / "dagster"
    for path in (home, dagster, home / "submitit"):
        path.mkdir()
    (tmp_path / "sec.yaml").write_text("seed: 0\n")
    monkeypatch.setenv("SEC_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster))
    monkeypatch.setenv("SEC_CONFIG", str(tmp_path / "sec.yaml"))
    for var in ("SEC_AUDIO_ROOT", "SEC_MODELS", "SEC_INBOX", "SEC_DATASET_TABLE"):
        monkeypatch.delenv(var, raising=False)
    container = {"runtime": "apptainer", "image": "/nowhere/x.sif", "binds": [], "env": []}
    handler = SubmititStepHandler(make_config(str(home / "submitit"), container=container))
    step = handler._container({"gpus": 1})
    assert step is not None and step.gpus == 1 and step.config.image == "/nowhere/x.sif"
    assert [(b.setting, b.source) for b in step.binds] == [
        ("SEC_HOME", str(home)),
        ("DAGSTER_HOME", str(dagster)),
        ("SEC_CONFIG", str(tmp_path / "sec.yaml")),
    ]
    assert handler._container({"gpus": 0}).gpus == 0  # the SIF is checked on the node, not here
    dagster.rmdir()
    with pytest.raises(ContainerUnavailable, match=rf"^DAGSTER_HOME: {dagster} does not exist on node "):
        handler._container({"gpus": 0})
    assert SubmititStepHandler(make_config(str(home / "submitit")))._container({"gpus": 1}) is None
