"""Loading the definitions imports none of torch, MLflow, scikit-learn, pandas or scipy: every
Slurm step process (``dagster api execute_step``), CLI call and run worker loads them, and only
the compute steps use those libraries. Imported on first use, they no longer cost each process
≈ 4 s of start-up (definitions load: ≈ 5.3 s → ≈ 1.4 s on the 2-core CI machine)."""

import re
import subprocess
import sys

HEAVY = ("mlflow", "pandas", "scipy", "sklearn", "torch")
LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|( *)(\S+)$")


def importers(importtime: str) -> dict[str, str]:
    """Each heavy library loaded → the innermost ``sec_assets`` module whose import loaded it
    (``-X importtime`` prints a module after the modules it imported, indented one step less)."""
    rows = [(len(m.group(1)), m.group(2)) for m in map(LINE.match, importtime.splitlines()) if m]
    found: dict[str, str] = {}
    for i, (depth, name) in enumerate(rows):
        if name in HEAVY and name not in found:
            for parent_depth, parent in rows[i + 1 :]:
                if parent_depth < depth and parent.startswith("sec_assets"):
                    found[name] = parent
                    break
                depth = min(depth, parent_depth)
    return found


def test_loading_the_definitions_imports_no_heavy_library():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sec_assets.definitions"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert importers(out.stderr) == {}, "heavy libraries imported at load, each with its sec_assets importer"


def test_the_check_names_the_module_that_imports_a_library():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sec_assets.core.tracking.pyfunc"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert importers(out.stderr)["mlflow"] == "sec_assets.core.tracking.pyfunc"
