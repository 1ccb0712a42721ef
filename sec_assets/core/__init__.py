"""Dagster-free core: audio I/O, features, models and the lineage catalog."""
