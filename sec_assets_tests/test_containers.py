"""The container definitions stay consistent with the lock (the images cannot be built here)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
CUDA_ONLY = re.compile(r"^(nvidia-|triton$|cuda-)")


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_dockerfile_installs_exactly_the_cuda_lock():
    docker = (REPO / "containers/Dockerfile").read_text()
    assert "-r requirements/cuda.txt" in docker and "COPY requirements/cuda.txt" in docker
    assert "--no-deps ." in docker  # the project itself adds nothing beyond the lock
    base = re.search(r"^FROM python:(\d+\.\d+)", docker, re.M)
    lock_python = re.search(r"--python-version (\d+\.\d+)", (REPO / "requirements/cuda.txt").read_text())
    assert base and lock_python and base.group(1) == lock_python.group(1)
    assert (
        Version(base.group(1) + ".0")
        in Requirement(f"x{_pyproject()['project']['requires-python']}").specifier
    )


def test_cuda_lock_matches_pyproject_and_the_cpu_lock():
    cuda, cpu = _pins(REPO / "requirements/cuda.txt"), _pins(REPO / "requirements/cpu.txt")
    for dep in _pyproject()["project"]["dependencies"]:
        req = Requirement(dep)
        name = req.name.lower()
        assert name in cuda, f"{name} missing from requirements/cuda.txt"
        assert Version(cuda[name]) in req.specifier or Version(cuda[name]).base_version in str(req.specifier)
    assert Version(cuda["torch"]).base_version == Version(cpu["torch"]).base_version
    shared = {n: v for n, v in cuda.items() if not CUDA_ONLY.match(n) and n != "torch"}
    differing = {n: (v, cpu.get(n)) for n, v in shared.items() if cpu.get(n) != v}
    assert not differing, f"cuda.txt and cpu.txt disagree: {differing}"
    assert any(CUDA_ONLY.match(n) for n in cuda)  # the CUDA build really is the CUDA build


def test_apptainer_definition_builds_from_the_dockerfile_image():
    version = _pyproject()["project"]["version"]
    docker = (REPO / "containers/Dockerfile").read_text()
    definition = (REPO / "containers/sec-assets.def").read_text()
    assert f'org.opencontainers.image.version="{version}"' in docker
    assert f"docker build -f containers/Dockerfile -t sec-assets:{version} ." in docker
    assert re.search(r"^Bootstrap: docker-daemon$", definition, re.M)
    assert re.search(rf"^From: sec-assets:{re.escape(version)}$", definition, re.M)
    assert "HF_HUB_OFFLINE=1" in definition and "HF_HUB_OFFLINE=1" in docker  # nodes never download
