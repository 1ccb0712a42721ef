"""Landing and inbox folders: which files are ready to be processed (no Dagster)."""
