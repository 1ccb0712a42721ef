"""The error of a bad executor setting, in a module of its own: the config (orchestrator side) and
the container setting (read on the node too, where no Dagster is imported) both raise it."""

from __future__ import annotations


class ExecutorConfigError(ValueError):
    """A setting of the executor (an environment variable or a config key) has a bad value."""
