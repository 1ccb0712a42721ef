#!/usr/bin/env bash
# The GPU check: one prepared run that proves every CUDA path and measures it.
#
#   scripts/gpu_check.sh OUT_DIR [--cpu] [options of python -m sec_assets.benchmarks.gpu]
#
# 1. Chooses the python and torch. With --cpu: the project's .venv as it is. Otherwise (a GPU
#    machine, which may have no internet): $SEC_GPU_PYTHON, the project's .venv or the machine's
#    python3, the first whose torch sees a CUDA GPU; failing those, where nvidia-smi shows a GPU,
#    `SEC_TORCH=cuda scripts/setup.sh` installs the CUDA lock into $SEC_CUDA_VENV (default
#    .venv-cuda), timed.
#    Modules the check needs that the chosen python lacks can be given as wheels in $SEC_WHEELS
#    (installed offline, --no-deps, into a scratch folder on PYTHONPATH, timed).
# 2. Runs the CUDA tests: pytest -m cuda sec_assets_tests/cuda (they skip without a GPU).
# 3. Runs python -m sec_assets.benchmarks.gpu: OUT_DIR/gpu.json and OUT_DIR/gpu.md.
# Exit status: the benchmark's, or 1 when a CUDA test failed (the report is written either way).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || { echo "usage: scripts/gpu_check.sh OUT_DIR [--cpu] [benchmark options]" >&2; exit 2; }
OUT=$1
shift
CPU=0
EXTRA=()
for arg in "$@"; do
  if [ "$arg" = --cpu ]; then CPU=1; else EXTRA+=("$arg"); fi
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}  # deterministic cuBLAS (CUDA training)

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }  # seconds since $1

PROBE_CUDA='import sys, torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, " + (torch.cuda.get_device_name() if ok else "no GPU"))
sys.exit(0 if ok else 1)'
# what the check imports (module names); torch is chosen above
NEEDS="numpy scipy sklearn polars pyarrow duckdb pydantic yaml soundfile soxr safetensors mlflow msclap torchlibrosa librosa transformers tokenizers pytest"
PROBE_NEEDS='import importlib.util, sys
missing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]
print(" ".join(missing))'

SOURCE=""
SETUP_S=""
if [ "$CPU" = 1 ]; then
  PY="$ROOT/.venv/bin/python"
  [ -x "$PY" ] || { echo "gpu check: no $PY: run scripts/setup.sh first" >&2; exit 2; }
  SOURCE="the project's .venv (--cpu): $("$PY" -c 'import torch; print("torch", torch.__version__)')"
else
  PY=""
  for candidate in ${SEC_GPU_PYTHON:-} "$ROOT/.venv/bin/python" python3; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if about=$("$candidate" -c "$PROBE_CUDA" 2>/dev/null); then
      PY=$(command -v "$candidate")
      SOURCE="$PY, its own torch ($about)"
      break
    fi
  done
  if [ -z "$PY" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu check: no GPU here (no python's torch sees one, no nvidia-smi); --cpu measures the CPU paths" >&2
    exit 2
  fi
  if [ -z "$PY" ]; then
    VENV=${SEC_CUDA_VENV:-.venv-cuda}
    echo "gpu check: no python here has a torch that sees a CUDA GPU;"
    echo "gpu check: SEC_TORCH=cuda scripts/setup.sh installs the CUDA lock (requirements/cuda.txt) into $VENV"
    started=$(date +%s.%N)
    if ! SEC_TORCH=cuda SEC_VENV="$VENV" bash scripts/setup.sh; then
      echo "gpu check: installing the CUDA lock failed (no internet? give SEC_FIND_LINKS a folder of wheels)" >&2
      exit 2
    fi
    SETUP_S=$(since "$started")
    echo "gpu check: installing the CUDA lock took ${SETUP_S} s"
    PY="$ROOT/$VENV/bin/python"
    about=$("$PY" -c "$PROBE_CUDA") || { echo "gpu check: $VENV's torch sees no CUDA GPU ($about)" >&2; exit 2; }
    SOURCE="$VENV from SEC_TORCH=cuda scripts/setup.sh ($about)"
  fi
fi
echo "gpu check: python $PY — $SOURCE"

# shellcheck disable=SC2086
missing=$("$PY" -c "$PROBE_NEEDS" $NEEDS)
if [ -n "$missing" ] && [ -n "${SEC_WHEELS:-}" ]; then
  site=${TMPDIR:-/tmp}/sec-gpu-check-site
  started=$(date +%s.%N)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$SEC_WHEELS"/*.whl
  echo "gpu check: wheels from $SEC_WHEELS installed into $site in $(since "$started") s"
  export PYTHONPATH="$PYTHONPATH:$site"
  # shellcheck disable=SC2086
  missing=$("$PY" -c "$PROBE_NEEDS" $NEEDS)
fi
if [ -n "$missing" ]; then
  echo "gpu check: $PY lacks these modules the check needs: $missing" >&2
  echo "gpu check: give them as wheels in SEC_WHEELS=<folder> (installed offline), or use a python that has them" >&2
  exit 2
fi

started=$(date +%s.%N)
tests_rc=0
"$PY" -m pytest -m cuda sec_assets_tests/cuda -q -p no:cacheprovider --junitxml "$OUT/cuda_tests.xml" \
  2>&1 | tee "$OUT/cuda_tests.log" || tests_rc=$?
echo "gpu check: CUDA tests took $(since "$started") s (exit status $tests_rc)"

args=(--out "$OUT" --junit "$OUT/cuda_tests.xml" --torch-source "$SOURCE")
[ "$CPU" = 1 ] && args+=(--cpu)
[ -n "$SETUP_S" ] && args+=(--setup-seconds "$SETUP_S")
"$PY" -m sec_assets.benchmarks.gpu "${args[@]}" "${EXTRA[@]}"
[ "$tests_rc" = 0 ] || [ "$tests_rc" = 5 ] || exit 1  # 5: no test collected
