"""Loading the definitions imports neither MLflow nor scikit-learn: every Slurm step process
(``dagster api execute_step``), CLI call and run worker loads them, and only training, evaluation
and inference use those libraries (≈ 1.5–2.5 s of start-up together, with pandas and scipy.stats)."""

import subprocess
import sys

CODE = """
import sys
import sec_assets.definitions as d
assert d.defs.get_repository_def().assets_defs_by_key
print(sorted(m for m in ("mlflow", "sklearn", "pandas") if m in sys.modules))
"""


def test_loading_the_definitions_imports_no_mlflow_or_sklearn():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
