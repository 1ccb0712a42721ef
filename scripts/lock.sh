#!/usr/bin/env bash
# Re-pin requirements/cpu.txt and requirements/cuda.txt from pyproject.toml (after changing dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
links=$(python3 -m pip config get global.find-links 2>/dev/null || true)
extra=(); for l in $links; do extra+=(--find-links "$l"); done
echo "torch==2.13.0+cpu" > requirements/torch-cpu.constraint
uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  -c requirements/torch-cpu.constraint "${extra[@]}" --no-emit-find-links -o requirements/cpu.txt
# The CUDA build (GPU nodes and the container): PyPI's torch wheel for Linux is the CUDA build.
# Every other pin must equal cpu.txt's (sec_assets_tests/test_containers.py checks it).
uv pip compile pyproject.toml --extra dev --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --no-emit-find-links -o requirements/cuda.txt
