"""Benchmarks: scripts that print figures (recorded in BENCHMARKS.md), never timed tests."""
