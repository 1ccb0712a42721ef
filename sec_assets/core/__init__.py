"""Dagster-free core, importable from a notebook: ``audio`` (decode, manifest, keys, segments),
``features`` (octave bank, CLAP, embeddings), ``models`` (splits, what models read, feature
sets and heads, training, selection, zero-shot, model store), ``evaluation`` (metrics,
report), ``store`` (Parquet, catalog), plus ``settings``, ``hashing`` and ``devices``. Nothing
below this package imports Dagster."""
