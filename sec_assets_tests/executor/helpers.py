"""A SubmititConfig built the way the executor builds it (from the Dagster config), without env."""

from __future__ import annotations

from sec_assets.executor import CONFIG_SCHEMA, SubmititConfig


def make_config(folder: str = "/tmp/x", **overrides) -> SubmititConfig:
    values = {k: (f.default_value if f.default_provided else None) for k, f in CONFIG_SCHEMA.items()}
    values.update(mode="slurm", folder=folder, python="", partition="cpu", gpu_partition="gpu")
    values.update(overrides)
    return SubmititConfig.from_dagster(values, environ={})
