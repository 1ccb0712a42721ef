#!/usr/bin/env bash
# One-shot, idempotent set-up of the project's virtual environment.
#
# This is the ONE place that chooses the torch build: SEC_TORCH=cpu (default) or cuda.
# Everything else is installed exactly as pinned in requirements/<build>.txt (made by
# scripts/lock.sh), with bytecode compiled at install time: without it every step process
# pays ~20 s of extra import time on machines that set PYTHONDONTWRITEBYTECODE.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SEC_VENV:-.venv}
BUILD=${SEC_TORCH:-cpu}
PY=${SEC_PYTHON:-python3}
LOCK=requirements/${BUILD}.txt
[ -f "$LOCK" ] || { echo "setup: no lock file $LOCK (SEC_TORCH must be cpu or cuda)" >&2; exit 2; }

stamp="$VENV/.sec-setup-$(cat "$LOCK" pyproject.toml | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0  # already set up for exactly this lock and project file
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.5"
fi

# Where the torch wheel comes from. uv does not read pip's config, so pass pip's find-links on
# (this is how the CPU wheel is provided on machines without access to download.pytorch.org).
extra=()
links=$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true)
for l in $links ${SEC_FIND_LINKS:-}; do extra+=(--find-links "$l"); done
if [ "$BUILD" = cpu ] && [ ${#extra[@]} -eq 0 ]; then
  extra+=(--extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match)
fi

export UV_PYTHON="$VENV/bin/python"
"$VENV/bin/uv" pip install --quiet --compile-bytecode "${extra[@]}" -r "$LOCK"
"$VENV/bin/uv" pip install --quiet --compile-bytecode --no-deps --config-settings editable_mode=compat -e .
rm -f "$VENV"/.sec-setup-*
touch "$stamp"
echo "setup: $VENV ready (torch build: $BUILD)"
