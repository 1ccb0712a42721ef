"""The core is importable from a notebook: no module below ``sec_assets.core`` imports Dagster."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import sec_assets.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "sec_assets.core.")]
for name in names:
    importlib.import_module(name)
print(len(names), sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster.")))
"""


def test_no_core_module_imports_dagster():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    count, loaded = out.stdout.strip().split(" ", 1)
    assert int(count) >= 20 and loaded == "[]", out.stdout
