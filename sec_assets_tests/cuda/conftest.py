"""The CUDA checks (``pytest -m cuda sec_assets_tests/cuda``, run by ``scripts/gpu_check.sh``).

Deterministic CUDA training needs ``CUBLAS_WORKSPACE_CONFIG`` before the process's first cuBLAS
call; nothing touches CUDA while tests are collected, so setting it here (when the caller did
not) is early enough.
"""

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
