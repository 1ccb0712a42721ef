"""Evaluation: classification metrics and the report."""
